import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { createDatabase, type Database } from '../../db/database.js'
import { parseLsn } from '../../db/lsn.js'
import { createDbMetrics } from '../../db/metrics.js'
import { createPool } from '../../db/pool.js'
import { type ConsistencySession, runInRequestContext } from '../../db/read-context.js'
import { ReplicaSet } from '../../db/replicas.js'
import { createCursorCodec, type CursorCodec } from '../../lib/cursor.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Database
    cursors: CursorCodec
  }
}

/** Sent on every write response; a client sends it back on its reads to see its own writes (README). */
export const CONSISTENCY_TOKEN_HEADER = 'x-consistency-token'

// Used only where CURSOR_SECRET is unset (development, tests); production sets its own.
const DEVELOPMENT_CURSOR_SECRET = 'catalog-api-development-cursor-secret'

export const replicaHosts = (list: string | undefined) => [...new Set((list ?? '').split(',').map((h) => h.trim()).filter(Boolean))]

export default fp(
  async (app) => {
    const { config, database } = app.appOptions
    const metrics = createDbMetrics(app.metrics.registry)
    const primary = createPool(config, database, { max: config.DB_POOL_MAX, name: 'primary', log: app.log })
    metrics.instrument(primary, 'primary')
    const replicaPools = replicaHosts(config.DB_READ_REPLICA_HOST).map((host) => {
      const name = `replica:${host}`
      const target = { ...database, host, port: config.DB_READ_REPLICA_PORT }
      const pool = createPool(config, target, { max: config.DB_READ_POOL_MAX, name, log: app.log, fastFailMs: config.DB_REPLICA_TIMEOUT_MS })
      metrics.instrument(pool, name)
      return { name, pool }
    })
    const replicas = new ReplicaSet(primary, replicaPools, { maxLagMs: config.DB_REPLICA_MAX_LAG_MS, log: app.log, metrics })
    app.decorate('db', createDatabase(primary, { replicas, metrics }))
    // A replica that is down makes the instance degraded, not unready: the primary serves its reads.
    for (const replica of replicas.replicas) {
      app.health.register(replica.name, {
        critical: false,
        check: async () => {
          await replica.pool.query('SELECT 1')
          if (!replica.up) throw new Error(`taken out of reads: ${replica.lastError ?? 'recovering'}`)
          if ((replica.lagMs ?? 0) > config.DB_REPLICA_MAX_LAG_MS) throw new Error(`lagging ${replica.lagMs} ms behind the primary`)
        }
      })
    }
    await replicas.start()

    // Each request runs in its own read context: its consistency token (if any) bounds which replicas may
    // answer, and its commits become the token of its response. preHandler runs after the body is parsed,
    // and calling done() inside run() puts the handler and everything it awaits in that context.
    const sessions = new WeakMap<FastifyRequest, ConsistencySession>()
    app.addHook('preHandler', (request, _reply, done) => {
      const given = request.headers[CONSISTENCY_TOKEN_HEADER]
      const minLsn = typeof given === 'string' && parseLsn(given) !== undefined ? given.trim() : undefined
      const session: ConsistencySession = {}
      sessions.set(request, session)
      runInRequestContext(minLsn ? { minLsn } : {}, session, done)
    })
    app.addHook('onSend', async (request, reply) => {
      const lsn = sessions.get(request)?.commitLsn
      if (lsn) reply.header(CONSISTENCY_TOKEN_HEADER, lsn)
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
