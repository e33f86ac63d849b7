import { createHash } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Counter, Histogram } from 'prom-client'
import { canonicalJson } from '../../writes/audit-chain.js'
import { systemContext, type WriteContext } from '../../writes/mutation.js'
import { SealThread } from '../../writes/seal-thread.js'
import { createQueueVacuum, createSealer, SEAL_BATCH_SIZE, sealPending } from '../../writes/sealer.js'
import { type RetentionResult, runRetention } from '../../writes/retention.js'

declare module 'fastify' {
  interface FastifyInstance {
    audit: {
      /**
       * The write context of this request, built once: actor, client IP, user agent, request id and, when
       * `successStatus` is given and the request carries an Idempotency-Key, the key's claim.
       */
      context(request: FastifyRequest, successStatus?: number): WriteContext
      /** One retention run now (the timer calls this every AUDIT_RETENTION_INTERVAL_MS). */
      runRetention(): Promise<RetentionResult>
      /** A seal pass now that sees every entry committed before the call (skipped if another instance seals). */
      seal(): Promise<void>
    }
  }
  interface FastifyRequest {
    writeContext: WriteContext | null
  }
}

const USER_AGENT_MAX = 512

/** "The same request": method, path and body, with the body's key order not mattering. */
function fingerprint(request: FastifyRequest): Buffer {
  const path = request.url.split('?')[0]
  return createHash('sha256')
    .update(canonicalJson([request.method, path, request.body ?? null]))
    .digest()
}

export default fp(
  async (app) => {
    const { config } = app.appOptions
    const registers = [app.metrics.registry]
    const entries = new Counter({ name: 'audit_entries_written_total', help: 'Audit entries committed', registers })
    const runs = new Counter({
      name: 'audit_retention_runs_total',
      help: 'Audit retention runs by outcome',
      labelNames: ['outcome'],
      registers
    })
    // Every outcome from 0, so increase() over an alert's window sees the first failure too.
    for (const outcome of ['completed', 'skipped', 'failed']) runs.inc({ outcome }, 0)
    const removed = new Counter({
      name: 'audit_retention_rows_removed_total',
      help: 'Audit entries removed by retention',
      registers
    })
    const pruned = new Counter({
      name: 'idempotency_keys_pruned_total',
      help: 'Expired Idempotency-Key records removed',
      registers
    })

    const sealed = new Counter({
      name: 'audit_entries_sealed_total',
      help: 'Audit entries this instance chained into the hash chain',
      registers
    })
    const sealRuns = new Counter({
      name: 'audit_seal_runs_total',
      help: 'Seal passes by outcome (skipped: another instance held the seal lock)',
      labelNames: ['outcome'],
      registers
    })
    const queueVacuums = new Counter({
      name: 'audit_seal_queue_vacuums_total',
      help: 'Vacuums of the seal queue (audit_pending) run by this instance after its seal passes',
      registers
    })
    const sealLag = new Histogram({
      name: 'audit_seal_lag_seconds',
      help: 'Time from an audit entry being written to it being sealed',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers
    })
    const thread = config.AUDIT_SEAL_THREAD
      ? new SealThread(
          { config, target: app.appOptions.database, batchSize: SEAL_BATCH_SIZE, events: config.EVENTS_ENABLED },
          app.log
        )
      : undefined
    const queueVacuum = createQueueVacuum()
    const sealer = createSealer({
      seal: thread
        ? () => thread.pass()
        : () => sealPending(app.db.primary, SEAL_BATCH_SIZE, config.EVENTS_ENABLED, queueVacuum),
      intervalMs: config.AUDIT_SEAL_INTERVAL_MS,
      nudgeMs: Math.min(50, config.AUDIT_SEAL_INTERVAL_MS),
      onPass(result) {
        sealRuns.inc({ outcome: result.ran ? 'completed' : 'skipped' })
        sealed.inc(result.sealed)
        if (result.vacuumed) queueVacuums.inc()
        if (result.vacuumFailed)
          app.log.warn({ reason: result.vacuumFailed }, 'vacuum of the seal queue failed; the next due one tries again')
        for (const lag of result.lagSeconds) sealLag.observe(lag)
        if (result.missing.length)
          app.log.warn({ entryIds: result.missing }, 'audit entries were removed before they could be sealed')
      },
      onError(err) {
        sealRuns.inc({ outcome: 'failed' })
        app.log.warn({ err }, 'audit seal pass failed; retrying at the next interval')
      }
    })
    const onAudited = () => {
      entries.inc()
      sealer.nudge()
    }

    app.decorateRequest('writeContext', null)

    function context(request: FastifyRequest, successStatus?: number): WriteContext {
      if (request.writeContext) return request.writeContext
      const principal = request.principal
      const userAgent = request.headers['user-agent']
      const ctx: WriteContext = {
        actor: principal
          ? { type: 'api_key', id: principal.id, name: principal.name, role: principal.role }
          : systemContext('anonymous').actor,
        ip: request.ip ?? null,
        userAgent: typeof userAgent === 'string' ? userAgent.slice(0, USER_AGENT_MAX) : null,
        requestId: request.id,
        onAudited,
        ...(request.keyToCheck !== null ? { keyToCheck: request.keyToCheck } : {})
      }
      const key = request.headers['idempotency-key']
      if (successStatus !== undefined && principal && typeof key === 'string') {
        ctx.idempotency = {
          apiKeyId: principal.id,
          key,
          fingerprint: fingerprint(request),
          status: successStatus,
          ttlHours: config.IDEMPOTENCY_KEY_TTL_HOURS,
          replayed: false
        }
      }
      request.writeContext = ctx
      return ctx
    }

    app.addHook('onSend', (request, reply, payload, done) => {
      if (request.writeContext?.idempotency?.replayed) reply.header('idempotent-replayed', 'true')
      done(null, payload)
    })

    async function retention(): Promise<RetentionResult> {
      try {
        const result = await runRetention(app.db.primary, {
          retentionDays: config.AUDIT_RETENTION_DAYS,
          batchSize: config.AUDIT_RETENTION_BATCH_SIZE,
          idempotencyTtlHours: config.IDEMPOTENCY_KEY_TTL_HOURS
        })
        runs.inc({ outcome: result.ran ? 'completed' : 'skipped' })
        removed.inc(result.removed)
        pruned.inc(result.keysPruned)
        if (result.removed || result.keysPruned) app.log.info(result, 'audit retention removed expired entries')
        return result
      } catch (err) {
        runs.inc({ outcome: 'failed' })
        throw err
      }
    }

    app.decorate('audit', { context, runRetention: retention, seal: () => sealer.sealNow() })

    app.addHook('onReady', (done) => {
      sealer.start()
      done()
    })
    app.addHook('onClose', async () => {
      await sealer.stop()
      await thread?.close()
    })

    if (config.AUDIT_RETENTION_INTERVAL_MS > 0) {
      let running: Promise<unknown> | undefined
      let timer: NodeJS.Timeout | undefined
      app.addHook('onReady', async () => {
        timer = setInterval(() => {
          running ??= retention()
            .catch((err) => app.log.warn({ err }, 'audit retention failed; retrying at the next interval'))
            .finally(() => (running = undefined))
        }, config.AUDIT_RETENTION_INTERVAL_MS)
        timer.unref()
      })
      app.addHook('onClose', async () => {
        clearInterval(timer)
        await running
      })
    }
  },
  { name: 'audit', dependencies: ['db', 'metrics', 'auth'] }
)
