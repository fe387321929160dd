/** Hostile peers as real loopback servers, for the hostile-peers suites. */
export * from './relay.js'
export * from './labeler.js'
export * from './canary.js'
export * from './hostile-pds.js'
export * from './amplifying-car.js'
