import { EventEmitter } from 'node:events'
import fp from 'fastify-plugin'
import pg from 'pg'
import { Counter } from 'prom-client'
import { sslOptions } from '../../db/pool.js'
import { EVENTS_CHANNEL, runEventRetention } from '../../writes/events.js'

declare module 'fastify' {
  interface FastifyInstance {
    events: {
      /**
       * Resolves when new events may have been sealed (a NOTIFY from any instance's sealer) or after `ms` at the
       * latest, with true; with false once the app is closing or `signal` aborted (stop waiting).
       */
      changed: (ms: number, signal?: AbortSignal) => Promise<boolean>
      /** One retention run now; null when another instance holds the lock. */
      runRetention: () => Promise<number | null>
    }
  }
}

const RECONNECT_MS = 1000

/**
 * Long polls of GET /events wait here without holding a pool connection: one LISTEN connection per instance
 * hears every seal pass that added events, on whichever instance it ran.
 */
export default fp(
  async (app) => {
    const { config, database } = app.appOptions
    const wake = new EventEmitter().setMaxListeners(0)
    let closed = false
    let listener: pg.Client | undefined
    let retry: NodeJS.Timeout | undefined

    async function listen(): Promise<void> {
      if (closed) return
      const client = new pg.Client({ ...database, ssl: sslOptions(config), application_name: 'catalog-api-events' })
      const reconnect = (err?: Error) => {
        if (err) app.log.warn({ err }, 'event notification connection failed; reconnecting')
        client.removeAllListeners()
        client.on('error', () => {})
        void client.end().catch(() => {})
        if (listener === client) listener = undefined
        // Waiters re-read at once: a notification may have been missed while the connection was down.
        wake.emit('changed')
        if (!closed) retry = setTimeout(() => void listen(), RECONNECT_MS).unref()
      }
      client.on('error', reconnect)
      client.on('end', () => reconnect())
      client.on('notification', () => wake.emit('changed'))
      try {
        await client.connect()
        await client.query(`LISTEN ${EVENTS_CHANNEL}`)
        listener = client
      } catch (err) {
        reconnect(err as Error)
      }
    }

    function changed(ms: number, signal?: AbortSignal): Promise<boolean> {
      if (closed || signal?.aborted) return Promise.resolve(false)
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer)
          wake.off('changed', done)
          signal?.removeEventListener('abort', done)
          resolve(!closed && !signal?.aborted)
        }
        const timer = setTimeout(done, ms)
        wake.on('changed', done)
        signal?.addEventListener('abort', done)
      })
    }

    const runs = new Counter({
      name: 'event_retention_runs_total',
      help: 'Change event retention runs by outcome',
      labelNames: ['outcome'],
      registers: [app.metrics.registry]
    })
    for (const outcome of ['completed', 'skipped', 'failed']) runs.inc({ outcome }, 0)
    const removed = new Counter({
      name: 'event_retention_rows_removed_total',
      help: 'Change events removed by retention',
      registers: [app.metrics.registry]
    })

    async function runRetention(): Promise<number | null> {
      const client = await app.db.primary.connect()
      try {
        const n = await runEventRetention(client, config.EVENT_RETENTION_DAYS, config.AUDIT_RETENTION_BATCH_SIZE)
        runs.inc({ outcome: n === null ? 'skipped' : 'completed' })
        if (n) {
          removed.inc(n)
          app.log.info({ removed: n }, 'event retention removed expired events')
        }
        return n
      } catch (err) {
        runs.inc({ outcome: 'failed' })
        throw err
      } finally {
        client.release()
      }
    }

    app.decorate('events', { changed, runRetention })

    let retentionTimer: NodeJS.Timeout | undefined
    let retentionRun: Promise<unknown> | undefined
    app.addHook('onReady', async () => {
      await listen()
      if (config.EVENT_RETENTION_INTERVAL_MS > 0) {
        retentionTimer = setInterval(() => {
          retentionRun ??= runRetention()
            .catch((err) => app.log.warn({ err }, 'event retention failed; retrying at the next interval'))
            .finally(() => (retentionRun = undefined))
        }, config.EVENT_RETENTION_INTERVAL_MS).unref()
      }
    })
    // preClose: long polls end (answering what they have) before the server waits for in-flight requests.
    app.addHook('preClose', (done) => {
      closed = true
      wake.emit('changed')
      done()
    })
    app.addHook('onClose', async () => {
      closed = true
      clearTimeout(retry)
      clearInterval(retentionTimer)
      await retentionRun
      const client = listener
      listener = undefined
      if (client) {
        client.removeAllListeners()
        client.on('error', () => {})
        await client.end().catch(() => {})
      }
    })
  },
  { name: 'events', dependencies: ['db', 'metrics'] }
)
