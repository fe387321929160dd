import { AtUri } from '@atproto/syntax'
import { simpleModule } from './simple.js'
import { str } from './util.js'

const LIST = 'app.bsky.graph.list'

/**
 * The list uri of an opt-out's subject, checked as bsky's plugin checks it: a canonical
 * `at://<did>/app.bsky.graph.list/<rkey>` with a valid rkey and nothing more; else null (the
 * record is kept in `record` only).
 */
export function optOutSubject(subject: string | null): string | null {
  if (subject === null) return null
  try {
    const uri = new AtUri(subject)
    const ok =
      uri.did.length > 0 &&
      uri.collection === LIST &&
      uri.rkeySafe !== '' &&
      uri.pathname.split('/').filter(Boolean).length === 2 &&
      !uri.search &&
      !uri.hash &&
      uri.toString() === subject
    return ok ? subject : null
  } catch {
    return null
  }
}

/**
 * app.bsky.graph.referencelistoptout → `reference_list_opt_out` (one per creator and list: the
 * others go to `duplicate_record`); no aggregates, no notifications.
 */
export const referenceListOptOut = simpleModule({
  collection: 'app.bsky.graph.referencelistoptout',
  table: 'reference_list_opt_out',
  columns: ['subjectUri'],
  uniqueGroup: ['creator', 'subjectUri'],
  row(_ref, record) {
    const subjectUri = optOutSubject(str(record.subject))
    return subjectUri === null ? null : { subjectUri }
  },
})
