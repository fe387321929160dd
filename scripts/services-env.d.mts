export declare function ensureServices(required?: string[]): void
