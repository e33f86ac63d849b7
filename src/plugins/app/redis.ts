import fp from 'fastify-plugin'
import { Gauge } from 'prom-client'
import { RedisConnection, redisSettings } from '../../redis/connection.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The shared Redis, or null when REDIS_URL is unset (in-process cache and limiter). */
    redis: RedisConnection | null
  }
}

/** Connects to Redis when configured; readiness shows it as degraded (not failed) while it is down. */
export default fp(
  async (app) => {
    const { config } = app.appOptions
    if (!config.REDIS_URL && !config.REDIS_CLUSTER_NODES) {
      app.decorate('redis', null)
      return
    }
    const redis = new RedisConnection(redisSettings(config), app.log.child({ component: 'redis' }))
    app.decorate('redis', redis)
    const registers = [app.metrics.registry]
    new Gauge({
      name: 'redis_up',
      help: '1 while Redis is connected and its circuit closed',
      registers,
      collect() {
        this.set(redis.available() ? 1 : 0)
      }
    })
    new Gauge({
      name: 'redis_circuit_open',
      help: '1 while the Redis circuit breaker is open',
      registers,
      collect() {
        this.set(redis.breaker.isOpen ? 1 : 0)
      }
    })
    app.health.register('redis', { critical: false, check: () => redis.ping() })
    app.addHook('onClose', () => redis.close())
    // Start answering without Redis rather than not at all: requests fall back until it connects.
    if (!(await redis.waitReady(config.REDIS_CONNECT_TIMEOUT_MS * 2)))
      app.log.warn('redis is not reachable yet: using fallbacks')
  },
  { name: 'redis', dependencies: ['metrics', 'health'] }
)
