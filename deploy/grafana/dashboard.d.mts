/** Types of dashboard.mjs (the generator of dashboards/firehose.json). */
export declare const json: string
