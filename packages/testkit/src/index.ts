export * from './network.js'
export * from './db.js'
export * from './wait.js'
