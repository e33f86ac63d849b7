import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { HotCounter } from '../../lib/hot-counter.js'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import { AppError } from '../../errors.js'

export function createMetrics() {
  const registry = new Registry()
  // A plain number on the request path, read by the gauge when scraped.
  const requestsInFlight = { count: 0 }
  collectDefaultMetrics({ register: registry })
  const labelNames = ['method', 'route', 'status_code'] as const
  return {
    registry,
    requests: new HotCounter({
      name: 'http_requests_total',
      help: 'HTTP requests answered',
      labelNames,
      registers: [registry]
    }),
    duration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time from request to response',
      labelNames,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
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
  interface FastifyContextConfig {
    /** Counted in catalog_operations_total when the route succeeds, e.g. ['product', 'create']. */
    operation?: [entity: string, operation: string]
  }
}

const BEARER_PREFIX = 'Bearer '

export default fp(
  async (app) => {
    const { config } = app.appOptions
    const metrics = createMetrics()
    app.decorate('metrics', metrics)

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
    const operationLabels = new WeakMap<[string, string], { entity: string; operation: string }>()
    // One labels object per route, method and status (HotCounter counts by object); keyed by the route's
    // config object, which Fastify keeps per route.
    type RequestLabels = { method: string; route: string; status_code: number }
    const labelsByRoute = new WeakMap<object, Map<string, RequestLabels>>()
    function requestLabels(routeConfig: object, method: string, route: string, status: number): RequestLabels {
      let known = labelsByRoute.get(routeConfig)
      if (!known) labelsByRoute.set(routeConfig, (known = new Map<string, RequestLabels>()))
      const key = `${method} ${status}`
      let labels = known.get(key)
      if (!labels || labels.route !== route) known.set(key, (labels = { method, route, status_code: status }))
      return labels
    }
    app.addHook('onResponse', (request, reply, done) => {
      // routeOptions is a getter that builds a new object: read once.
      const { url, config: routeConfig } = request.routeOptions
      // The route template, never the raw URL: label cardinality stays bounded.
      const labels = requestLabels(routeConfig, request.method, url ?? 'unmatched', reply.statusCode)
      metrics.requests.inc(labels)
      metrics.duration.observe(labels, reply.elapsedTime / 1000)
      const operation = routeConfig.operation
      if (operation && reply.statusCode < 400) {
        let counted = operationLabels.get(operation)
        if (!counted) operationLabels.set(operation, (counted = { entity: operation[0], operation: operation[1] }))
        metrics.operations.inc(counted)
      }
      done()
    })

    async function scrape(request: FastifyRequest, reply: FastifyReply) {
      if (config.METRICS_TOKEN && request.headers.authorization !== `${BEARER_PREFIX}${config.METRICS_TOKEN}`) {
        throw new AppError('UNAUTHORIZED', 'Metrics need Authorization: Bearer <METRICS_TOKEN>', undefined, {
          'www-authenticate': 'Bearer realm="metrics"'
        })
      }
      reply.type(metrics.registry.contentType)
      return metrics.registry.metrics()
    }

    if (config.METRICS_PORT === undefined) {
      app.get('/metrics', { schema: { hide: true } }, scrape)
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
