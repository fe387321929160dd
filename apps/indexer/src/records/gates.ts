import { simpleModule } from './simple.js'
import { str } from './util.js'

const POST = 'app.bsky.feed.post'

/**
 * A gate record (threadgate, postgate) → its table. A gate lives at the rkey of its post in
 * the same repo; one that names another post is refused, as bsky refuses it. The post's
 * `hasThreadGate` / `hasPostGate` and the violations of replies and quotes follow from it
 * (writer/post-flags.ts).
 */
const gate = (collection: string, table: string, what: string) =>
  simpleModule({
    collection,
    table,
    columns: ['postUri'],
    gates: POST,
    check(ref, record) {
      return str(record.post) !== `at://${ref.did}/${POST}/${ref.rkey}` ? `creator and rkey of ${what} do not match its post` : null
    },
    row: (_ref, record) => ({ postUri: str(record.post) ?? '' }),
  })

/** app.bsky.feed.threadgate → `thread_gate`. */
export const threadGate = gate('app.bsky.feed.threadgate', 'thread_gate', 'thread gate')
/** app.bsky.feed.postgate → `post_gate`. */
export const postGate = gate('app.bsky.feed.postgate', 'post_gate', 'post gate')
