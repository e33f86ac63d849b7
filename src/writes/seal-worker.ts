import { parentPort, workerData } from 'node:worker_threads'
import { createPool } from '../db/pool.js'
import { createQueueVacuum, sealPending } from './sealer.js'
import type { SealThreadData, SealThreadReply, SealThreadRequest } from './seal-thread.js'

// The seal passes of an instance, on a thread of their own (seal-thread.ts starts it): one pass at a time, each
// on this thread's single connection to the primary, answered to the main thread with its outcome.
const data = workerData as SealThreadData
const port = parentPort
if (!port) throw new Error('seal-worker.ts runs as a worker thread (seal-thread.ts)')

const post = (reply: SealThreadReply) => port.postMessage(reply)
const warn = (message: string) => (obj: object, msg: string) => {
  const err = (obj as { err?: Error }).err
  post({ type: 'warn', message: `${message}: ${msg}${err ? `: ${err.message}` : ''}` })
}
const pool = createPool(data.config, data.target, {
  max: 1,
  name: 'sealer',
  log: { warn: warn('seal thread') },
  applicationName: 'catalog-api-sealer'
})

const vacuum = createQueueVacuum(data.queueVacuumEvery)
let queue = Promise.resolve()
port.on('message', (request: SealThreadRequest) => {
  if (request.type === 'close') {
    queue = queue.then(async () => {
      await pool.end().catch(() => {})
      port.close()
    })
    return
  }
  queue = queue.then(async () => {
    try {
      const result = await sealPending(pool, data.batchSize, data.events, vacuum)
      post({ type: 'done', id: request.id, result })
    } catch (err) {
      const e = err as Error & { code?: string }
      post({ type: 'failed', id: request.id, message: e.message ?? String(err), code: e.code })
    }
  })
})
