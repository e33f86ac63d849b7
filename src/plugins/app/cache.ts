import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Cache, createCacheMetrics } from '../../cache/cache.js'
import { MemoryStore, RedisStore } from '../../cache/store.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Read-through response cache; null when CACHE_ENABLED=false. */
    cache: Cache | null
  }
  interface FastifyContextConfig {
    /** Cache tags a successful call of this (write) route invalidates, before its response is sent. */
    invalidates?: (request: FastifyRequest) => string[]
  }
}

export default fp(
  async (app) => {
    const { config } = app.appOptions
    if (!config.CACHE_ENABLED) {
      app.decorate('cache', null)
      return
    }
    const metrics = createCacheMetrics(app.metrics.registry)
    const { redis } = app
    const store = redis
      ? new RedisStore(redis.client, redis.batch, config.REDIS_KEY_PREFIX)
      : new MemoryStore(config.CACHE_LOCAL_MAX_ENTRIES)
    const cache = new Cache(store, {
      defaultTtl: config.CACHE_TTL_SECONDS,
      localMaxEntries: config.CACHE_LOCAL_MAX_ENTRIES,
      metrics,
      log: app.log.child({ component: 'cache' }),
      // Every instance that saw the outage recovers within a probe interval plus a reconnect backoff (≤ 1 s).
      recoveryGraceMs: config.REDIS_BREAKER_PROBE_MS + 1500,
      // A write's invalidation follows its commit, so the primary's WAL position at the start of a fill covers
      // every write that invalidated this entry; a replica that replayed it is as good as the primary.
      fillContext: async () => {
        if (!app.db.replicas.replicas.length) return { forcePrimary: true }
        let lsn: string | undefined
        try {
          const { rows } = await app.db.primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')
          lsn = rows[0]?.lsn
        } catch (err) {
          // The primary is down, so nothing commits: the last position the replica poll saw (≤ 500 ms old) lets
          // an up-to-date replica serve reads meanwhile instead of failing them with the primary.
          const last = app.db.replicas.lastPrimaryLsn()
          if (last === undefined) throw err
          await app.db.replicas.refreshFor(last)
          return { minLsn: last }
        }
        if (lsn === undefined) return { forcePrimary: true }
        await app.db.replicas.refreshFor(lsn)
        return { minLsn: lsn }
      },
      ...(redis ? { redis } : {})
    })
    app.decorate('cache', cache)
    // onSend runs before the first byte leaves: once a client has the write's answer, the tags are bumped.
    // Added to the write routes only, so reads pay nothing for it.
    app.addHook('onRoute', (route) => {
      const invalidates = route.config?.invalidates
      if (!invalidates) return
      const hook = async (request: FastifyRequest, reply: FastifyReply) => {
        if (reply.statusCode < 400) await cache.invalidate(invalidates(request))
      }
      route.onSend = [...(route.onSend ? [route.onSend].flat() : []), hook]
    })
  },
  { name: 'cache', dependencies: ['metrics', 'redis', 'db'] }
)
