import { once } from 'node:events'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { Config } from '../config.js'
import type { ConnectionTarget } from '../db/pool.js'
import type { SealResult } from './sealer.js'

/** What the seal thread starts with. */
export interface SealThreadData {
  config: Config
  target: ConnectionTarget
  batchSize: number
  events: boolean
  /** Entries sealed between two vacuums of the queue (createQueueVacuum; QUEUE_VACUUM_EVERY when unset). */
  queueVacuumEvery?: number
}

export type SealThreadRequest = { type: 'pass'; id: number } | { type: 'close' }

export type SealThreadReply =
  | { type: 'done'; id: number; result: SealResult }
  | { type: 'failed'; id: number; message: string; code?: string }
  | { type: 'warn'; message: string }

// The worker's source beside this module: seal-worker.js in the build. Run from the sources (tests, tsx), it is
// seal-worker.ts, which a worker thread loads only once tsx is registered in it.
const FROM_SOURCES = extname(fileURLToPath(import.meta.url)) === '.ts'
const WORKER_URL = new URL(`./seal-worker${FROM_SOURCES ? '.ts' : '.js'}`, import.meta.url)
const WORKER_FROM_SOURCES = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_URL.href)}) })`

const CLOSE_WAIT_MS = 5000

/**
 * Seal passes on a worker thread with its own connection to the primary (seal-worker.ts). A pass reads the
 * committed entries, hashes each into the chain and writes the links: under a steady stream of creates that was
 * about 0.1 ms of the main thread's 0.35 ms per create, and a pass held the event loop for its whole batch. The
 * thread does it beside the main thread. It starts with the first pass; if it dies, the passes it owed fail (the
 * sealer retries at its next interval) and the next pass starts a new one.
 */
export class SealThread {
  private worker: Worker | undefined
  private nextId = 0
  private readonly owed = new Map<number, { resolve: (r: SealResult) => void; reject: (err: Error) => void }>()

  constructor(
    private readonly data: SealThreadData,
    private readonly log: { warn(obj: object, msg: string): void }
  ) {}

  /** One seal pass on the thread (sealPending with the thread's connection). */
  pass(): Promise<SealResult> {
    const worker = this.worker ?? this.start()
    const id = ++this.nextId
    return new Promise<SealResult>((resolve, reject) => {
      this.owed.set(id, { resolve, reject })
      worker.postMessage({ type: 'pass', id } satisfies SealThreadRequest)
    })
  }

  /** Lets the thread close its connection and exit (terminated after CLOSE_WAIT_MS); passes still owed fail. */
  async close(): Promise<void> {
    const worker = this.worker
    if (!worker) return
    const exited = once(worker, 'exit')
    worker.postMessage({ type: 'close' } satisfies SealThreadRequest)
    const timer = setTimeout(() => void worker.terminate(), CLOSE_WAIT_MS)
    await exited.catch(() => {})
    clearTimeout(timer)
  }

  private start(): Worker {
    const worker = new Worker(FROM_SOURCES ? WORKER_FROM_SOURCES : WORKER_URL, {
      eval: FROM_SOURCES,
      workerData: this.data,
      // A small young generation keeps the instance's memory where it was with the passes on the main thread. The
      // old generation is not capped: a pass holds a whole batch of entries (SEAL_BATCH_SIZE), and an import's
      // products of many variants make large ones (a cap of 32 MB failed such a pass every time).
      resourceLimits: { maxYoungGenerationSizeMb: 4 }
    })
    worker.unref()
    worker.on('message', (reply: SealThreadReply) => {
      if (reply.type === 'warn') return this.log.warn({}, reply.message)
      const owed = this.owed.get(reply.id)
      if (!owed) return
      this.owed.delete(reply.id)
      if (reply.type === 'done') owed.resolve(reply.result)
      else owed.reject(Object.assign(new Error(reply.message), reply.code ? { code: reply.code } : {}))
    })
    worker.on('error', (err) => this.lost(worker, err))
    worker.on('exit', (code) => this.lost(worker, new Error(`the seal thread exited (code ${code})`)))
    this.worker = worker
    return worker
  }

  private lost(worker: Worker, err: Error): void {
    if (this.worker !== worker) return
    this.worker = undefined
    for (const owed of this.owed.values()) owed.reject(err)
    this.owed.clear()
  }
}
