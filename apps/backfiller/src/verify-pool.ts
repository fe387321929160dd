/**
 * Verify threads: repos are verified (and their records turned into JSON) off the main thread,
 * which keeps fetching and writing to Redis meanwhile. The CAR is transferred, not copied; the
 * records' JSON comes back as one transferred buffer with the records' end offsets. A thread that dies fails its repo
 * (retried like any failure) and is replaced.
 */
import { Worker } from 'node:worker_threads'
import {
  CarParseError,
  OutputBudgetError,
  VerificationError,
  type OutputBudget,
  type OutputBudgetKind,
  type VerificationReason,
} from '@firehose/atproto'
import type { Logger } from '@firehose/service'
import type { ExtractedRepo, VerifyReply, VerifyRequest } from './verify-worker.js'

interface Task {
  req: VerifyRequest
  resolve: (r: ExtractedRepo) => void
  reject: (e: Error) => void
}

interface Thread {
  worker: Worker
  task: Task | null
}

const workerUrl = new URL(`./verify-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url)

export class VerifyPool {
  private readonly threads: Thread[] = []
  private readonly queue: Task[] = []
  private nextId = 1
  private closed = false

  constructor(
    size: number,
    private readonly logger?: Logger,
  ) {
    if (size < 1) throw new Error('size must be greater than 0')
    for (let i = 0; i < size; i++) this.threads.push(this.spawn())
  }

  verify(car: Uint8Array, expected: { did: string; signingKey: string }, budget?: OutputBudget): Promise<ExtractedRepo> {
    if (this.closed) return Promise.reject(new Error('verify pool is closed'))
    return new Promise<ExtractedRepo>((resolve, reject) => {
      const req = { id: this.nextId++, car, did: expected.did, signingKey: expected.signingKey, ...(budget ? { budget } : {}) }
      this.queue.push({ req, resolve, reject })
      this.pump()
    })
  }

  async close(): Promise<void> {
    this.closed = true
    for (const t of this.queue.splice(0)) t.reject(new Error('verify pool is closed'))
    await Promise.all(this.threads.map((t) => t.worker.terminate()))
  }

  private spawn(): Thread {
    const worker = new Worker(workerUrl, { workerData: { role: 'verify' } })
    const thread: Thread = { worker, task: null }
    worker.on('message', (reply: VerifyReply) => {
      const task = thread.task
      thread.task = null
      if (task && task.req.id === reply.id) settle(task, reply)
      this.pump()
    })
    worker.on('error', (err) => {
      this.logger?.error({ err: err.message }, 'verify thread failed; replacing it')
    })
    worker.on('exit', (code) => {
      const task = thread.task
      thread.task = null
      task?.reject(new Error(`verify thread exited (code ${code})`))
      if (this.closed) return
      const i = this.threads.indexOf(thread)
      if (i >= 0) this.threads[i] = this.spawn()
      this.pump()
    })
    worker.unref()
    return thread
  }

  private pump(): void {
    for (const t of this.threads) {
      if (t.task || this.queue.length === 0) continue
      const task = this.queue.shift() as Task
      t.task = task
      const buf = task.req.car.buffer
      // transfer the CAR when it owns its whole buffer (it does when fetched), else copy
      const transfer =
        buf instanceof ArrayBuffer && task.req.car.byteOffset === 0 && task.req.car.byteLength === buf.byteLength ? [buf] : []
      t.worker.postMessage(task.req, transfer)
    }
  }
}

function settle(task: Task, reply: VerifyReply): void {
  if (reply.ok) {
    task.resolve({ commit: reply.commit, rev: reply.rev, ...(reply.data ? { data: reply.data } : {}), json: reply.json, ends: reply.ends })
    return
  }
  let err: Error
  if (reply.name === 'VerificationError') err = new VerificationError((reply.reason ?? 'bad-commit') as VerificationReason, '', reply.cid)
  else if (reply.name === 'CarParseError') err = new CarParseError('', reply.offset)
  else if (reply.name === 'OutputBudgetError') err = new OutputBudgetError((reply.budget ?? 'json_bytes') as OutputBudgetKind, '')
  else err = new Error()
  err.message = reply.message
  task.reject(err)
}
