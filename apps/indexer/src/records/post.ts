import type { LexRecord, LexValue } from '@firehose/streams'
import type { AggKey, RecordModule, RecordRef, Row, TableSpec } from './types.js'
import { feedItemTable, tableSpec } from './tables.js'
import { blobCid, isObj, lesser, normalizeDatetime, str, strongRef, uriDid } from './util.js'

const POST = 'app.bsky.feed.post'

const embedImage = tableSpec('post_embed_image', 'postUri', 'postUri,position,imageCid,alt')
const embedExternal = tableSpec('post_embed_external', 'postUri', 'postUri,uri,title,description,thumbCid')
const embedRecord = tableSpec('post_embed_record', 'postUri', 'postUri,embedUri,embedCid')
const embedVideo = tableSpec('post_embed_video', 'postUri', 'postUri,videoCid,alt')
const embedGallery = tableSpec('post_embed_gallery_image', 'postUri', 'postUri,position,imageCid,alt')
/**
 * The author's own replies in their threads (bsky's dataplane walks OP threads with it, and
 * reads `deletedAt`: a deleted reply is replaced only by a newer one). A deleted reply keeps its
 * row with `deletedAt` set to the delete's time, as in bsky (which uses its wall clock); a reply
 * that arrives after its delete gets the same row.
 */
const opThreadReply: TableSpec = { ...tableSpec('op_thread_reply', 'uri', 'rootUri,parentUri,uri,deletedAt'), softDelete: 'deletedAt' }
const quoteTable: TableSpec = {
  ...tableSpec('quote', 'uri', 'uri,cid,subject,subjectCid,createdAt,indexedAt'),
  agg: { kind: 'quoteCount', column: 'subject' },
}

const isPostUri = (uri: string): boolean => uri.split('/')[3] === POST

/** A post's `reply.root` or `reply.parent` strong ref (null when it is not a reply, or malformed). */
export const replyRef = (record: LexRecord, which: 'root' | 'parent'): { uri: string; cid: string } | null =>
  strongRef(isObj(record.reply) ? record.reply[which] : undefined)

/** The embeds of a post, with recordWithMedia split in its record and its media (as bsky). */
function separateEmbeds(embed: LexValue | undefined): { [key: string]: LexValue }[] {
  if (!isObj(embed)) return []
  if (embed.$type === 'app.bsky.embed.recordWithMedia') {
    const parts: { [key: string]: LexValue }[] = []
    if (isObj(embed.record)) parts.push({ ...embed.record, $type: 'app.bsky.embed.record' })
    if (isObj(embed.media)) parts.push(embed.media)
    return parts
  }
  return [embed]
}

function embedRows(ref: RecordRef, record: LexRecord, createdAt: string): Row[][] {
  const images: Row[] = []
  const externals: Row[] = []
  const records: Row[] = []
  const videos: Row[] = []
  const quotes: Row[] = []
  const gallery: Row[] = []
  for (const e of separateEmbeds(record.embed)) {
    if (e.$type === 'app.bsky.embed.images' && Array.isArray(e.images)) {
      e.images.forEach((img, i) => {
        if (!isObj(img)) return
        const cid = blobCid(img.image)
        if (cid) images.push({ postUri: ref.uri, position: String(i), imageCid: cid, alt: str(img.alt) ?? '' })
      })
    } else if (e.$type === 'app.bsky.embed.external' && isObj(e.external)) {
      const x = e.external
      externals.push({
        postUri: ref.uri,
        uri: str(x.uri) ?? '',
        title: str(x.title) ?? '',
        description: str(x.description) ?? '',
        thumbCid: blobCid(x.thumb),
      })
    } else if (e.$type === 'app.bsky.embed.record') {
      const target = strongRef(e.record)
      if (!target) continue
      records.push({ postUri: ref.uri, embedUri: target.uri, embedCid: target.cid })
      if (isPostUri(target.uri)) {
        quotes.push({ uri: ref.uri, cid: ref.cid, subject: target.uri, subjectCid: target.cid, createdAt, indexedAt: ref.indexedAt })
      }
    } else if (e.$type === 'app.bsky.embed.video') {
      const cid = blobCid(e.video)
      if (cid) videos.push({ postUri: ref.uri, videoCid: cid, alt: str(e.alt) })
    } else if (e.$type === 'app.bsky.embed.gallery' && Array.isArray(e.items)) {
      // items are a union: only #image today; others are skipped (as bsky)
      e.items.forEach((item, i) => {
        if (!isObj(item) || (item.$type !== undefined && item.$type !== 'app.bsky.embed.gallery#image')) return
        const cid = blobCid(item.image)
        if (cid) gallery.push({ postUri: ref.uri, position: String(i), imageCid: cid, alt: str(item.alt) ?? '' })
      })
    }
  }
  return [images, externals, records, videos, quotes, gallery]
}

function quoteSubject(record: LexRecord): string | null {
  for (const e of separateEmbeds(record.embed)) {
    const target = e.$type === 'app.bsky.embed.record' ? strongRef(e.record) : null
    if (target && isPostUri(target.uri)) return target.uri
  }
  return null
}

/**
 * app.bsky.feed.post → `post`, its own `feed_item`, embeds and `quote`; counted in
 * profile_agg.postsCount of its creator, post_agg.replyCount of its parent and
 * post_agg.quoteCount of the post it quotes. Its gate flags and violations
 * (`hasThreadGate`, `violatesThreadGate`, …) are computed from what is stored by
 * writer/post-flags.ts; `invalidReplyRoot` is left null.
 */
export const post: RecordModule = {
  collection: POST,
  lexiconId: POST,
  main: tableSpec('post', 'uri', 'uri,cid,creator,text,replyRoot,replyRootCid,replyParent,replyParentCid,createdAt,indexedAt,langs,tags', {
    langs: 'jsonb',
    tags: 'jsonb',
  }),
  extra: [feedItemTable, embedImage, embedExternal, embedRecord, embedVideo, quoteTable, embedGallery, opThreadReply],
  toRows(ref, record) {
    const reply = isObj(record.reply) ? record.reply : undefined
    const root = strongRef(reply?.root)
    const parent = strongRef(reply?.parent)
    const createdAt = normalizeDatetime(record.createdAt)
    const langs = Array.isArray(record.langs) && record.langs.length ? JSON.stringify(record.langs) : null
    const tags = Array.isArray(record.tags) && record.tags.length ? JSON.stringify(record.tags) : null
    const feedItem: Row = {
      uri: ref.uri,
      cid: ref.cid,
      type: 'post',
      postUri: ref.uri,
      originatorDid: ref.did,
      sortAt: lesser(ref.indexedAt, createdAt),
    }
    return {
      main: {
        uri: ref.uri,
        cid: ref.cid,
        creator: ref.did,
        text: str(record.text) ?? '',
        replyRoot: root?.uri ?? null,
        replyRootCid: root?.cid ?? null,
        replyParent: parent?.uri ?? null,
        replyParentCid: parent?.cid ?? null,
        createdAt,
        indexedAt: ref.indexedAt,
        langs,
        tags,
      },
      extra: [
        [feedItem],
        ...embedRows(ref, record, createdAt),
        root && parent && uriDid(root.uri) === ref.did ? [{ rootUri: root.uri, parentUri: parent.uri, uri: ref.uri, deletedAt: null }] : [],
      ],
    }
  },
  aggregates: [
    {
      kind: 'replyCount',
      table: 'post_agg',
      // a reply that violates its thread's gate is not counted (writer/post-flags.ts)
      count: `SELECT count(*) FROM post WHERE "replyParent" = x.k AND ("violatesThreadGate" IS NULL OR "violatesThreadGate" = false)`,
      rows: { base: 'post', column: 'replyParent', where: `($row."violatesThreadGate" IS NULL OR $row."violatesThreadGate" = false)` },
      delta: true,
    },
    // the `quote` rows (an extra table of post)
    {
      kind: 'quoteCount',
      table: 'post_agg',
      count: `SELECT count(*) FROM quote WHERE subject = x.k`,
      rows: { base: 'quote', column: 'subject' },
      delta: true,
    },
    {
      kind: 'postsCount',
      table: 'profile_agg',
      count: `SELECT count(*) FROM post WHERE creator = x.k`,
      rows: { base: 'post', column: 'creator' },
      delta: true,
    },
  ],
  aggKeys(row) {
    const keys: AggKey[] = [{ kind: 'postsCount', key: String(row.creator) }]
    if (row.replyParent) keys.push({ kind: 'replyCount', key: String(row.replyParent) })
    return keys
  },
  reads(_did, record) {
    const root = replyRef(record, 'root')
    // the parent: its stored chain is what the reply's notifications are computed from
    // (writer/notifications.ts); a batch writing the parent recomputes its replies
    const parent = replyRef(record, 'parent')
    const quoted = quoteSubject(record)
    return [...new Set([...(root ? [root.uri] : []), ...(parent ? [parent.uri] : []), ...(quoted ? [quoted] : [])])]
  },
  replyPairs: {
    exclusive: false,
    keys(did, record) {
      const root = replyRef(record, 'root')
      return root ? [`${uriDid(root.uri)}|${did}`] : []
    },
  },
  aggKeysOfRecord(ref, record) {
    const keys: AggKey[] = [{ kind: 'postsCount', key: ref.did }]
    const parent = replyRef(record, 'parent')
    if (parent) keys.push({ kind: 'replyCount', key: parent.uri })
    const quoted = quoteSubject(record)
    if (quoted) keys.push({ kind: 'quoteCount', key: quoted })
    return keys
  },
}
