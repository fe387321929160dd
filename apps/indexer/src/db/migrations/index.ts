import * as m0001 from './0001-appview-tables.js'
import * as m0002 from './0002-indexer-bookkeeping.js'
import * as m0003 from './0003-actor-event-versions.js'
import * as m0004 from './0004-gate-lookups.js'
import * as m0005 from './0005-appview-additions.js'
import * as m0006 from './0006-tombstone-version.js'
import * as m0007 from './0007-handle-checks.js'
import * as m0008 from './0008-tombstone-pruning.js'
import * as m0009 from './0009-notifications.js'
import * as m0010 from './0010-snapshot-floor.js'
import * as m0011 from './0011-counter-deltas.js'
import * as m0012 from './0012-bulk-load.js'
import * as m0013 from './0013-update-room.js'
import * as m0014 from './0014-notification-key.js'

export interface Migration {
  name: string
  statements: readonly string[]
}

/** In order of application; names are recorded in `indexer_migration`, never renamed. */
export const migrations: readonly Migration[] = [
  m0001,
  m0002,
  m0003,
  m0004,
  m0005,
  m0006,
  m0007,
  m0008,
  m0009,
  m0010,
  m0011,
  m0012,
  m0013,
  m0014,
]
