import underPressure from '@fastify/under-pressure'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { AppError } from '../../errors.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Read per route by @fastify/under-pressure: one that returns nothing exempts the route from shedding. */
    pressureHandler?: (request: FastifyRequest, reply: FastifyReply, type: string, value?: number) => unknown
  }
}

/**
 * Sheds load with 503 + Retry-After while the event loop lags or memory is over its limit, instead of
 * queueing requests until every one of them times out. Liveness and /metrics are exempt: a busy process is not a
 * dead one, and its metrics matter most then. Each shed request is counted in http_requests_shed_total.
 */
export default fp(
  async (app) => {
    const { config } = app.appOptions
    const { shed } = app.metrics
    // Start-up work (module loading, route compilation) lags the event loop once; that is not overload.
    // Shedding starts two samples after the instance is ready.
    let warm = false
    app.addHook('onReady', async () => {
      setTimeout(() => {
        warm = true
      }, 2 * config.PRESSURE_SAMPLE_INTERVAL_MS).unref()
    })
    await app.register(underPressure, {
      maxEventLoopDelay: config.PRESSURE_MAX_EVENT_LOOP_DELAY_MS,
      maxHeapUsedBytes: config.PRESSURE_MAX_HEAP_USED_BYTES,
      maxRssBytes: config.PRESSURE_MAX_RSS_BYTES,
      maxEventLoopUtilization: config.PRESSURE_MAX_EVENT_LOOP_UTILIZATION,
      sampleInterval: config.PRESSURE_SAMPLE_INTERVAL_MS,
      pressureHandler: async (_request, _reply, type) => {
        if (!warm) return
        shed.inc({ reason: type })
        throw new AppError('SERVICE_UNAVAILABLE', `The service is overloaded (${type}); retry shortly`, undefined, {
          'retry-after': '2'
        })
      }
    })
  },
  { name: 'under-pressure', dependencies: ['metrics'] }
)
