import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { loadMigrations, pendingMigrations } from '../../db/migrate.js'
import { AppError } from '../../errors.js'
import { Out, errorResponses } from '../../lib/schemas.js'

const tags = ['health']
const security: [] = []
const Ok = Type.Object({ status: Type.Literal('ok') }, { additionalProperties: false, title: 'HealthOk' })
const CheckSchema = Type.Object(
  {
    status: Type.Enum(['up', 'down']),
    critical: Type.Boolean({ description: 'A critical dependency down makes the instance unready' }),
    latencyMs: Type.Number({ format: 'double', minimum: 0, maximum: 3_600_000 }),
    error: Type.Optional(Out(1000))
  },
  { additionalProperties: false, title: 'HealthCheck' }
)
const ReadySchema = Type.Object(
  {
    status: Type.Enum(['ready', 'degraded']),
    checks: Type.Record(Type.String({ maxLength: 64 }), CheckSchema, {
      description: 'By dependency: database, each replica, redis'
    })
  },
  { additionalProperties: false, title: 'Readiness' }
)
// A busy process is not a dead one: liveness answers even while load is being shed.
const notShed = { pressureHandler: () => undefined }

const health: FastifyPluginAsyncTypebox = async (app) => {
  app.health.register('database', { critical: true, check: () => app.db.primary.query('SELECT 1') })
  // The schema must be at the code's version (MIGRATE_ON_STARTUP=false leaves that to a deploy step). Once it
  // is, it stays so for this process: later probes cost no query.
  const migrations = await loadMigrations()
  let schemaCurrent = false
  const checkMigrations = async () => {
    if (schemaCurrent) return
    const pending = await pendingMigrations(app.db.primary, migrations)
    if (pending.length) throw new Error(`pending migrations: ${pending.join(', ')} (npm run migrate)`)
    schemaCurrent = true
  }
  app.health.register('migrations', { critical: true, check: checkMigrations })
  // Checked once at start (bounded), so the first probe finds it settled and a warm pool.
  app.addHook('onReady', async () => {
    let timer: NodeJS.Timeout | undefined
    const bound = new Promise((resolve) => (timer = setTimeout(resolve, app.appOptions.config.HEALTH_CHECK_TIMEOUT_MS)))
    await Promise.race([checkMigrations().catch(() => {}), bound]).finally(() => clearTimeout(timer))
  })

  app.get(
    '/health',
    {
      schema: {
        tags,
        operationId: 'getHealth',
        summary: 'Load balancer check: 200 while the primary database answers and the instance is not shutting down',
        security,
        response: { 200: Ok, ...errorResponses('NOT_READY', 'DATABASE_UNAVAILABLE') }
      }
    },
    async () => {
      if (app.health.shuttingDown)
        throw new AppError('NOT_READY', 'The instance is shutting down', undefined, { 'retry-after': '5' })
      const { database } = await app.health.run()
      if (database?.status !== 'up') {
        throw new AppError(
          'DATABASE_UNAVAILABLE',
          `The primary database does not answer: ${database?.error}`,
          undefined,
          {
            'retry-after': '5'
          }
        )
      }
      return { status: 'ok' as const }
    }
  )

  app.get(
    '/health/live',
    {
      config: notShed,
      schema: {
        tags,
        operationId: 'getLiveness',
        summary: 'The process is up (no dependency is called)',
        security,
        response: { 200: Ok }
      }
    },
    () => Promise.resolve({ status: 'ok' as const })
  )

  app.get(
    '/health/ready',
    {
      schema: {
        tags,
        operationId: 'getReadiness',
        summary:
          'Each dependency with status and latency; 503 when a critical one is down or the instance is shutting down',
        security,
        response: { 200: ReadySchema, ...errorResponses('NOT_READY') }
      }
    },
    async () => {
      if (app.health.shuttingDown)
        throw new AppError('NOT_READY', 'The instance is shutting down', undefined, { 'retry-after': '5' })
      const checks = await app.health.run()
      const failed = Object.entries(checks).filter(([, c]) => c.status === 'down')
      if (failed.some(([, c]) => c.critical)) {
        throw new AppError(
          'NOT_READY',
          `Down: ${failed
            .filter(([, c]) => c.critical)
            .map(([name, c]) => `${name} (${c.error})`)
            .join('; ')}`,
          undefined,
          { 'retry-after': '5' },
          { checks }
        )
      }
      return { status: failed.length ? ('degraded' as const) : ('ready' as const), checks }
    }
  )
}

export default health
