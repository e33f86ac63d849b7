import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram } from 'prom-client'
import { attempt, type ClaimedRow, claimDue, type Finished, recordAttempts } from './dispatcher.js'
import { parseSchedule } from './schedule.js'
import { createAgents, type SendOptions } from './sender.js'
import type { UrlPolicy } from './ssrf.js'

declare module 'fastify' {
  interface FastifyInstance {
    webhooks: {
      policy: UrlPolicy
      send: Omit<SendOptions, 'policy'>
      /** Delivers what is due now on this instance, until nothing is; resolves when those attempts are recorded. */
      drain: () => Promise<number>
    }
  }
}

/**
 * The delivery worker. Every instance runs one: it leases due deliveries (src/modules/webhooks/dispatcher.ts), up to
 * WEBHOOK_CONCURRENCY at once, and is woken by new events (the same notification as the feed's long polls) or
 * every WEBHOOK_DISPATCH_INTERVAL_MS.
 */
export default fp(
  async (app) => {
    const { config } = app.appOptions
    const policy: UrlPolicy = {
      allowHttp: config.WEBHOOK_ALLOW_HTTP,
      allowPrivate: config.WEBHOOK_ALLOW_PRIVATE_NETWORKS
    }
    const agents = createAgents()
    const send = { timeoutMs: config.WEBHOOK_TIMEOUT_MS, agents }
    const schedule = parseSchedule(config.WEBHOOK_RETRY_DELAYS, config.WEBHOOK_RETRY_REPEAT, config.WEBHOOK_RETRY_FOR)
    // A lease outlives the attempt it covers; then a delivery whose instance died is due again.
    const leaseMs = config.WEBHOOK_TIMEOUT_MS + 5000
    const registers = [app.metrics.registry]

    const deliveries = new Counter({
      name: 'webhook_deliveries_total',
      help: 'Webhook delivery attempts by outcome',
      labelNames: ['outcome'],
      registers
    })
    for (const outcome of ['delivered', 'http_error', 'timeout', 'network_error', 'refused'])
      deliveries.inc({ outcome }, 0)
    const duration = new Histogram({
      name: 'webhook_delivery_duration_seconds',
      help: 'Time of a webhook delivery attempt, request to response',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers
    })
    const disabledNow = new Counter({
      name: 'webhook_subscriptions_disabled_total',
      help: 'Subscriptions this instance disabled after their retry schedule ended',
      registers
    })
    // Fleet-wide state, read from the database when scraped.
    const state = async () => {
      const { rows } = await app.db.primary.query<{ depth: number; oldest: number | null; disabled: number }>(
        `SELECT (SELECT count(*)::int FROM webhook_deliveries WHERE status = 'pending') AS depth,
                (SELECT extract(epoch FROM now() - min(created_at))::float8
                   FROM webhook_deliveries WHERE status = 'pending') AS oldest,
                (SELECT count(*)::int FROM webhooks WHERE status = 'disabled') AS disabled`
      )
      return rows[0]
    }
    let scrape: Promise<Awaited<ReturnType<typeof state>>> | undefined
    const shared = () => {
      scrape ??= state().finally(() => setTimeout(() => (scrape = undefined), 0))
      return scrape
    }
    new Gauge({
      name: 'webhook_queue_depth',
      help: 'Webhook deliveries waiting (pending), of every subscription',
      registers,
      async collect() {
        this.set((await shared().catch(() => undefined))?.depth ?? 0)
      }
    })
    new Gauge({
      name: 'webhook_oldest_undelivered_age_seconds',
      help: 'Age of the oldest pending webhook delivery (0 when none)',
      registers,
      async collect() {
        this.set((await shared().catch(() => undefined))?.oldest ?? 0)
      }
    })
    new Gauge({
      name: 'webhook_subscriptions_disabled',
      help: 'Webhook subscriptions disabled after their retry schedule ended',
      registers,
      async collect() {
        this.set((await shared().catch(() => undefined))?.disabled ?? 0)
      }
    })

    const inFlight = new Set<Promise<void>>()
    let closed = false
    let kick: (() => void) | undefined

    // Finished attempts are recorded together, one statement for all that finished meanwhile; a delivery holds its
    // slot (and stays leased) until recorded, so the next event of its entity is not claimed before.
    let finished: (Finished & { done: () => void })[] = []
    let flushing: Promise<void> | undefined
    const flush = (): Promise<void> => {
      flushing ??= (async () => {
        while (finished.length) {
          const batch = finished
          finished = []
          try {
            const disabled = await recordAttempts(app.db.primary, batch, schedule)
            for (const { result } of batch) {
              deliveries.inc({ outcome: result.outcome })
              duration.observe(result.durationMs / 1000)
            }
            for (const webhookId of disabled) {
              disabledNow.inc()
              app.log.warn({ webhookId }, 'webhook disabled: deliveries failed for the whole schedule')
            }
          } catch (err) {
            // Unrecorded attempts are retried when their lease expires (at least once, never lost).
            app.log.warn({ err, deliveries: batch.length }, 'webhook attempts could not be recorded')
          }
          for (const item of batch) item.done()
        }
      })().finally(() => {
        flushing = undefined
        if (finished.length) void flush()
      })
      return flushing
    }

    const start = (row: ClaimedRow) => {
      const job = new Promise<void>((done) => {
        Promise.resolve()
          .then(() => attempt(row, { ...send, policy }))
          .then(
            (result) => finished.push({ row, result, done }),
            (err: unknown) => {
              // Not sent: the lease expires and the delivery is tried again.
              app.log.warn({ err, deliveryId: row.id }, 'webhook delivery could not be attempted')
              done()
            }
          )
          .then(() => flush())
          .catch(() => {})
      }).finally(() => {
        inFlight.delete(job)
        kick?.()
      })
      inFlight.add(job)
    }

    // Slots are refilled in batches: one claim statement per half of the slots, not per finished delivery.
    const refillAt = Math.max(1, Math.floor(config.WEBHOOK_CONCURRENCY / 2))

    /** Claims and starts what fits; the number started. */
    async function fill(): Promise<number> {
      const free = config.WEBHOOK_CONCURRENCY - inFlight.size
      if (free <= 0 || closed || (free < refillAt && inFlight.size > 0)) return 0
      const rows = await claimDue(app.db.primary, free, leaseMs)
      for (const row of rows) start(row)
      return rows.length
    }

    async function drain(): Promise<number> {
      let started = 0
      for (;;) {
        const n = await fill()
        started += n
        if (n === 0 && inFlight.size === 0) return started
        if (n === 0) await Promise.race(inFlight)
      }
    }

    async function loop(): Promise<void> {
      while (!closed) {
        let started = 0
        try {
          started = await fill()
        } catch (err) {
          app.log.warn({ err }, 'webhook dispatch failed; retrying at the next interval')
        }
        if (closed) break
        if (started > 0 && config.WEBHOOK_CONCURRENCY - inFlight.size >= refillAt) continue
        // Woken by a finished attempt (a slot, or the next event of that entity), new events, or the interval.
        await Promise.race([
          new Promise<void>((resolve) => (kick = resolve)),
          app.events.changed(config.WEBHOOK_DISPATCH_INTERVAL_MS)
        ])
        kick = undefined
      }
    }

    app.decorate('webhooks', { policy, send, drain })

    let running: Promise<void> | undefined
    app.addHook('onReady', (done) => {
      if (config.WEBHOOK_DISPATCH_ENABLED) running = loop()
      done()
    })
    app.addHook('preClose', (done) => {
      closed = true
      kick?.()
      done()
    })
    app.addHook('onClose', async () => {
      closed = true
      kick?.()
      await running
      // Attempts in flight finish (each bounded by WEBHOOK_TIMEOUT_MS) and are recorded before the pool closes.
      await Promise.all(inFlight)
      agents.http.destroy()
      agents.https.destroy()
    })
  },
  { name: 'webhooks', dependencies: ['db', 'metrics', 'events'] }
)
