import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { createDatabase, type Database } from '../../db/database.js'
import { createDbMetrics } from '../../db/metrics.js'
import { createPool } from '../../db/pool.js'
import { CONSISTENCY_TOKEN_HEADER, type ConsistencySession, readContextOf } from '../../db/read-context.js'
import { ReplicaSet } from '../../db/replicas.js'
import { createCursorCodec, type CursorCodec } from '../../lib/cursor.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Database
    /** The database as `request` may use it: its consistency token bounds the replicas, its commits make the token of its response. */
    dbFor(request: FastifyRequest): Database
    cursors: CursorCodec
  }
  interface FastifyRequest {
    /** Set once the request used dbFor(); holds the WAL position of its last commit. */
    consistency: ConsistencySession | null
  }
}

export { CONSISTENCY_TOKEN_HEADER }

// Used only where CURSOR_SECRET is unset (development, tests); production sets its own.
const DEVELOPMENT_CURSOR_SECRET = 'catalog-api-development-cursor-secret'

export const replicaHosts = (list: string | undefined) => [
  ...new Set(
    (list ?? '')
      .split(',')
      .map((h) => h.trim())
      .filter(Boolean)
  )
]

export default fp(
  async (app) => {
    const { config, database } = app.appOptions
    const metrics = createDbMetrics(app.metrics.registry)
    const primary = createPool(config, database, {
      max: config.DB_POOL_MAX,
      name: 'primary',
      log: app.log,
      observer: metrics.observer('primary')
    })
    metrics.watch(primary, 'primary')
    const replicaPools = replicaHosts(config.DB_READ_REPLICA_HOST).map((host) => {
      const name = `replica:${host}`
      const target = { ...database, host, port: config.DB_READ_REPLICA_PORT }
      const pool = createPool(config, target, {
        max: config.DB_READ_POOL_MAX,
        name,
        log: app.log,
        fastFailMs: config.DB_REPLICA_TIMEOUT_MS,
        observer: metrics.observer(name)
      })
      metrics.watch(pool, name)
      return { name, pool }
    })
    const replicas = new ReplicaSet(primary, replicaPools, {
      maxLagMs: config.DB_REPLICA_MAX_LAG_MS,
      log: app.log,
      metrics
    })
    app.decorate('db', createDatabase(primary, { replicas, metrics }))
    // A replica that is down makes the instance degraded, not unready: the primary serves its reads.
    for (const replica of replicas.replicas) {
      app.health.register(replica.name, {
        critical: false,
        check: async () => {
          await replica.pool.query('SELECT 1')
          if (!replica.up) throw new Error(`taken out of reads: ${replica.lastError ?? 'recovering'}`)
          if ((replica.lagMs ?? 0) > config.DB_REPLICA_MAX_LAG_MS)
            throw new Error(`lagging ${replica.lagMs} ms behind the primary`)
        }
      })
    }
    await replicas.start()

    app.decorateRequest('consistency', null)
    app.decorate('dbFor', (request: FastifyRequest) => {
      request.consistency ??= {}
      return app.db.scoped(readContextOf(request.headers), request.consistency)
    })
    app.addHook('onSend', (request, reply, payload, done) => {
      const lsn = request.consistency?.commitLsn
      if (lsn) reply.header(CONSISTENCY_TOKEN_HEADER, lsn)
      done(null, payload)
    })

    if (!config.CURSOR_SECRET && config.NODE_ENV === 'production') {
      app.log.warn('CURSOR_SECRET is not set: pagination cursors are signed with a public development key')
    }
    app.decorate('cursors', createCursorCodec(config.CURSOR_SECRET ?? DEVELOPMENT_CURSOR_SECRET, 'catalog-api'))
    // Runs after the server stopped taking requests and in-flight ones finished.
    app.addHook('onClose', async () => {
      await app.db.close()
    })
  },
  { name: 'db', dependencies: ['metrics', 'health'] }
)
