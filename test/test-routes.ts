import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'

/**
 * Fault injection for the tests: a slow request, an unexpected error, a crash outside any request, a lagging
 * event loop, a slow query. Registered next to the app by `build(t, env, target, withTestRoutes)` and by the
 * server entry point test/test-server.ts (`startServer(..., { testRoutes: true })`); never part of src/.
 */
export const testRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const opts = {
    schema: {
      hide: true,
      querystring: Type.Object({ ms: Type.Integer({ minimum: 0, maximum: 60_000, default: 100 }) })
    }
  }
  app.get('/test/sleep', opts, async (request) => {
    await new Promise((resolve) => setTimeout(resolve, request.query.ms))
    return { slept: request.query.ms }
  })
  // Overload rather than one stall: the loop is held in 100 ms steps for `ms`, yielding between steps so timers
  // (the lag sampler, other requests) run late, as they do when a process cannot keep up.
  app.get('/test/lag', opts, async (request) => {
    const until = Date.now() + request.query.ms
    while (Date.now() < until) {
      const step = Math.min(until, Date.now() + 100)
      while (Date.now() < step) {
        // busy: holds the event loop for one step
      }
      await new Promise((resolve) => setImmediate(resolve))
    }
    return { lagged: request.query.ms }
  })
  app.get('/test/boom', { schema: { hide: true } }, async () => {
    throw new Error('test failure: forced 500')
  })
  app.get('/test/crash', { schema: { hide: true } }, async () => {
    setImmediate(() => {
      throw new Error('test failure: uncaught exception')
    })
    return { crashing: true }
  })
  app.get('/test/db-sleep', opts, async (request) => {
    await app.db.primary.query('SELECT pg_sleep($1::float / 1000)', [request.query.ms])
    return { slept: request.query.ms }
  })
}

/** build()'s setup that adds the fault-injection routes. */
export const withTestRoutes = (app: FastifyInstance) => {
  void app.register(testRoutes)
}
