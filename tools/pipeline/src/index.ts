export * from './apps.js'
export * from './status.js'
export * from './truth-compare.js'
