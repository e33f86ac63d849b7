import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { type CounterSeries, HotCounter } from '../../lib/hot-counter.js'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { CacheResult } from '../../cache/cache.js'
import { AppError } from '../../errors.js'
import { bearerToken } from '../../lib/bearer.js'
import { type BuildInfo, buildInfo } from '../../lib/build-info.js'

/** @fastify/under-pressure's reasons for shedding a request. */
const SHED_REASONS = ['eventLoopDelay', 'eventLoopUtilization', 'heapUsedBytes', 'rssBytes'] as const

export function createMetrics(build: BuildInfo = buildInfo(undefined)) {
  const registry = new Registry()
  // A plain number on the request path, read by the gauge when scraped.
  const requestsInFlight = { count: 0 }
  collectDefaultMetrics({ register: registry })
  // cache_result tells reads answered from the cache (hit) from those that read the database (miss, bypass:
  // the cache was unavailable or off; none: the route has no cache), for their latency targets.
  const labelNames = ['method', 'route', 'status_code', 'cache_result'] as const
  new Gauge({
    name: 'catalog_build_info',
    help: 'Always 1; the labels say what runs: package version, commit and Node.js version',
    labelNames: ['version', 'commit', 'node_version'],
    registers: [registry]
  }).set({ ...build }, 1)
  const shed = new Counter({
    name: 'http_requests_shed_total',
    help: 'Requests answered 503 by load protection, by the limit that was over (under-pressure type)',
    labelNames: ['reason'],
    registers: [registry]
  })
  // Every reason from 0, so rate() sees the first shed request.
  for (const reason of SHED_REASONS) shed.inc({ reason }, 0)
  const requests = new HotCounter({
    name: 'http_requests_total',
    help: 'HTTP requests answered',
    labelNames,
    registers: [registry]
  })
  const waitingOf = new Map<string, () => number>()
  const writeBatches = {
    batchSize: new Histogram({
      name: 'write_batch_size',
      help: 'Requests per write transaction of the coalesced writes (1: run alone), by kind',
      labelNames: ['kind'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers: [registry]
    }),
    retriedAlone: new Counter({
      name: 'write_batch_retried_alone_total',
      help: 'Requests run again alone because their batch failed on a row, by kind',
      labelNames: ['kind'],
      registers: [registry]
    }),
    /** How many writes of each kind wait for their turn, for the gauge below (each coalescer registers itself). */
    waitingOf,
    waiting: new Gauge({
      name: 'write_batch_waiting',
      help: 'Writes waiting for a transaction of their kind to start (coalesced writes), by kind',
      labelNames: ['kind'],
      registers: [registry],
      collect() {
        for (const [kind, count] of waitingOf) this.set({ kind }, count())
      }
    })
  }
  for (const kind of ['create', 'variant_patch']) writeBatches.retriedAlone.inc({ kind }, 0)
  return {
    registry,
    shed,
    requests,
    /** The coalesced writes' transactions (writes/coalescer.ts). */
    writeBatches,
    /** Answers given before routing (bad URL, over-long parameter, HTTP parser errors): no hook sees them. */
    countUnrouted(method: string, status: number) {
      requests.series({ method, route: 'unmatched', status_code: status, cache_result: 'none' }).inc()
    },
    duration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time from request to response',
      labelNames,
      // 0.05, 0.2 and 0.3 are the latency targets (prometheus/rules/recording.yml): p95 against them is exact.
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2.5, 5, 10],
      registers: [registry]
    }),
    requestsInFlight,
    inFlight: new Gauge({
      name: 'http_requests_in_flight',
      help: 'Requests being handled',
      registers: [registry],
      collect() {
        this.set(requestsInFlight.count)
      }
    }),
    connections: new Gauge({ name: 'http_open_connections', help: 'Open client connections', registers: [registry] }),
    errors: new Counter({
      name: 'http_errors_total',
      help: 'Error responses by error code',
      labelNames: ['code'],
      registers: [registry]
    }),
    operations: new HotCounter({
      name: 'catalog_operations_total',
      help: 'Successful catalog operations by entity and kind',
      labelNames: ['entity', 'operation'],
      registers: [registry]
    })
  }
}

export type Metrics = ReturnType<typeof createMetrics>

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
  interface FastifyRequest {
    /** Whether the response came from the cache; set by respondCached, 'none' on routes without a cache. */
    cacheResult: CacheResult
  }
  interface FastifyContextConfig {
    /** Counted in catalog_operations_total when the route succeeds, e.g. ['product', 'create']. */
    operation?: [entity: string, operation: string]
  }
}

export default fp(
  async (app) => {
    const { config } = app.appOptions
    const metrics = createMetrics(buildInfo(config.GIT_COMMIT))
    app.decorate('metrics', metrics)
    app.decorateRequest('cacheResult', 'none')

    app.server.on('connection', (socket) => {
      metrics.connections.inc()
      socket.once('close', () => metrics.connections.dec())
    })
    // In flight = started and not yet closed: 'close' fires exactly once per response, whether it finished
    // or the client went away.
    const { requestsInFlight } = metrics
    const closed = () => {
      requestsInFlight.count--
    }
    app.addHook('onRequest', (_request, reply, done) => {
      requestsInFlight.count++
      // 'on', not 'once': the response emits 'close' once and is dropped after; no wrapper per request.
      reply.raw.on('close', closed)
      done()
    })
    // Each answer's label set found by its values (its key), once: the counter series and the histogram's labels.
    type RequestLabels = { method: string; route: string; status_code: number; cache_result: CacheResult }
    const seen = new Map<string, { labels: RequestLabels; series: CounterSeries }>()
    function requestSeries(method: string, route: string, status: number, cache: CacheResult) {
      const key = `${method} ${status} ${cache} ${route}`
      let known = seen.get(key)
      if (!known) {
        const labels = { method, route, status_code: status, cache_result: cache }
        seen.set(key, (known = { labels, series: metrics.requests.series(labels) }))
      }
      return known
    }
    app.addHook('onResponse', (request, reply, done) => {
      // routeOptions is a getter that builds a new object: read once.
      const { url, config: routeConfig } = request.routeOptions
      // The route template, never the raw URL: label cardinality stays bounded.
      const { labels, series } = requestSeries(
        request.method,
        url ?? 'unmatched',
        reply.statusCode,
        request.cacheResult
      )
      series.inc()
      metrics.duration.observe(labels, reply.elapsedTime / 1000)
      const operation = routeConfig.operation
      if (operation && reply.statusCode < 400)
        metrics.operations.series({ entity: operation[0], operation: operation[1] }).inc()
      done()
    })

    async function scrape(request: FastifyRequest, reply: FastifyReply) {
      if (config.METRICS_TOKEN && bearerToken(request.headers.authorization) !== config.METRICS_TOKEN) {
        throw new AppError('UNAUTHORIZED', 'Metrics need Authorization: Bearer <METRICS_TOKEN>', undefined, {
          'www-authenticate': 'Bearer realm="metrics"'
        })
      }
      reply.type(metrics.registry.contentType)
      return metrics.registry.metrics()
    }

    if (config.METRICS_PORT === undefined) {
      // Never shed: an overloaded instance is the one whose metrics matter, and a failed scrape reads as "down".
      app.get('/metrics', { schema: { hide: true }, config: { pressureHandler: () => undefined } }, scrape)
      return
    }
    // A separate listener keeps the scrape endpoint off the public port (e.g. reachable only inside the VPC).
    const metricsServer = Fastify({ logger: false })
    metricsServer.get('/metrics', scrape)
    metricsServer.setErrorHandler((err, request, reply) => app.errorHandler(err, request, reply))
    app.addHook('onReady', async () => {
      await metricsServer.listen({ port: config.METRICS_PORT, host: config.HOST })
    })
    app.addHook('onClose', async () => {
      await metricsServer.close()
    })
  },
  { name: 'metrics' }
)
