import { createAccount, type SeedClient } from './network.js'

type Ref = { uri: { toString(): string; rkey: string }; cid: { toString(): string } }
type RefLike = { uriStr: string; cidStr: string; rkey: string; raw: Ref }

interface Actor {
  did: string
  name: string
  handle: string
  posts: RefLike[]
  likes: Map<string, string> // subject uri -> like rkey
  reposts: Map<string, string>
  follows: Set<string>
  active: boolean
}

import { rng } from './random.js'

export { rng }

const toRef = (r: Ref): RefLike => ({ uriStr: r.uri.toString(), cidStr: r.cid.toString(), rkey: r.uri.rkey, raw: r })

export interface ActivityCounts {
  [op: string]: number
}

/**
 * Realistic activity on a dev-env PDS: posts, replies, likes and unlikes, reposts, follows and
 * unfollows, profile edits, post deletes, handle changes, deactivation and reactivation.
 */
export class Activity {
  readonly actors: Actor[] = []
  readonly counts: ActivityCounts = {}
  private readonly random: () => number
  private handleGen = 0

  /**
   * `beforeReply`: awaited before each random reply, with the parent's uri (a reference
   * implementation that indexes repos concurrently needs the parent indexed first to notify).
   */
  constructor(
    private readonly seed: SeedClient,
    seedValue = 1,
    private readonly options: { beforeReply?: (parentUri: string) => Promise<void> } = {},
  ) {
    this.random = rng(seedValue)
  }

  private pick<T>(xs: T[]): T | undefined {
    return xs.length === 0 ? undefined : xs[Math.floor(this.random() * xs.length)]
  }
  private count(op: string): void {
    this.counts[op] = (this.counts[op] ?? 0) + 1
  }
  get dids(): string[] {
    return this.actors.map((a) => a.did)
  }

  async createAccounts(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const { did, name, handle } = await createAccount(this.seed)
      this.actors.push({ did, name, handle, posts: [], likes: new Map(), reposts: new Map(), follows: new Set(), active: true })
      this.count('account')
    }
  }

  private headers(did: string) {
    return this.seed.getHeaders(did as `did:${string}:${string}`)
  }

  /** One random operation by a random active actor. */
  async step(): Promise<string> {
    const actor = this.pick(this.actors.filter((a) => a.active))
    if (!actor) throw new Error('no active actor: call createAccounts first')
    const did = actor.did as `did:${string}:${string}`
    const others = this.actors.filter((a) => a !== actor)
    const allPosts = this.actors.flatMap((a) => a.posts)
    const r = this.random()
    const agent = this.seed.agent
    if (r < 0.25 || allPosts.length === 0) {
      const res = await this.seed.post(did, `post ${Math.floor(this.random() * 1e9)} #tag`)
      actor.posts.push(toRef(res.ref as unknown as Ref))
      this.count('post')
      return 'post'
    }
    if (r < 0.33) {
      const parent = this.pick(allPosts) as RefLike
      await this.options.beforeReply?.(parent.uriStr)
      const res = await this.seed.reply(did, parent.raw as never, parent.raw as never, `reply ${Math.floor(this.random() * 1e9)}`)
      actor.posts.push(toRef(res.ref as unknown as Ref))
      this.count('reply')
      return 'reply'
    }
    if (r < 0.6) {
      const subject = this.pick(allPosts) as RefLike
      const existing = actor.likes.get(subject.uriStr)
      if (existing) {
        await agent.app.bsky.feed.like.delete({ repo: did, rkey: existing }, this.headers(did))
        actor.likes.delete(subject.uriStr)
        this.count('unlike')
        return 'unlike'
      }
      const uri = await this.seed.like(did, subject.raw as never)
      actor.likes.set(subject.uriStr, (uri as unknown as { rkey: string }).rkey)
      this.count('like')
      return 'like'
    }
    if (r < 0.7) {
      const subject = this.pick(allPosts) as RefLike
      if (actor.reposts.has(subject.uriStr)) {
        await agent.app.bsky.feed.repost.delete({ repo: did, rkey: actor.reposts.get(subject.uriStr) as string }, this.headers(did))
        actor.reposts.delete(subject.uriStr)
        this.count('unrepost')
        return 'unrepost'
      }
      const ref = await this.seed.repost(did, subject.raw as never)
      actor.reposts.set(subject.uriStr, (ref as unknown as Ref).uri.rkey)
      this.count('repost')
      return 'repost'
    }
    if (r < 0.82) {
      const other = this.pick(others)
      if (!other) return 'noop'
      if (actor.follows.has(other.did)) {
        await this.seed.unfollow(did, other.did as never)
        actor.follows.delete(other.did)
        this.count('unfollow')
        return 'unfollow'
      }
      await this.seed.follow(did, other.did as never)
      actor.follows.add(other.did)
      this.count('follow')
      return 'follow'
    }
    if (r < 0.9) {
      await this.seed.agent.com.atproto.repo.putRecord(
        {
          repo: did,
          collection: 'app.bsky.actor.profile',
          rkey: 'self',
          record: { $type: 'app.bsky.actor.profile', displayName: `Name ${Math.floor(this.random() * 1e6)}`, description: 'edited' },
        },
        { headers: this.headers(did), encoding: 'application/json' },
      )
      this.count('profile')
      return 'profile'
    }
    if (r < 0.97) {
      const post = actor.posts.pop()
      if (!post) return 'noop'
      // Likes and reposts of it stay in their authors' repos, as on the real network.
      await agent.app.bsky.feed.post.delete({ repo: did, rkey: post.rkey }, this.headers(did))
      this.count('deletePost')
      return 'deletePost'
    }
    const handle = `${actor.name}h${++this.handleGen}.test`
    await this.seed.updateHandle(did, handle as `${string}.${string}`)
    actor.handle = handle
    this.count('handle')
    return 'handle'
  }

  /** Change the handle of `did` now. */
  async changeHandle(did: string): Promise<string> {
    const actor = this.actors.find((a) => a.did === did)
    if (!actor) throw new Error(`unknown actor ${did}`)
    const handle = `${actor.name}h${++this.handleGen}.test`
    await this.seed.updateHandle(did as `did:${string}:${string}`, handle as `${string}.${string}`)
    actor.handle = handle
    this.count('handle')
    return handle
  }

  async run(steps: number): Promise<void> {
    for (let i = 0; i < steps; i++) await this.step()
  }

  async deactivate(did: string): Promise<void> {
    await this.seed.agent.com.atproto.server.deactivateAccount({}, { headers: this.headers(did), encoding: 'application/json' })
    const a = this.actors.find((x) => x.did === did)
    if (a) a.active = false
    this.count('deactivate')
  }

  async activate(did: string): Promise<void> {
    await this.seed.agent.com.atproto.server.activateAccount(undefined, { headers: this.headers(did) })
    const a = this.actors.find((x) => x.did === did)
    if (a) a.active = true
    this.count('activate')
  }
}
