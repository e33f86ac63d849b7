import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  LogController
} from 'fastify'
import { type Config, trustProxySetting } from './config.js'
import type { ConnectionTarget } from './db/pool.js'
import apiKeys from './modules/api-keys/index.js'
import auditLogs from './modules/audit/index.js'
import bulk from './modules/bulk/index.js'
import categories from './modules/categories/index.js'
import events from './modules/events/index.js'
import health from './modules/health/index.js'
import products from './modules/products/index.js'
import webhooks from './modules/webhooks/index.js'
import audit from './plugins/app/audit.js'
import auth from './plugins/app/auth.js'
import cache from './plugins/app/cache.js'
import cacheControl from './plugins/app/cache-control.js'
import db from './plugins/app/db.js'
import eventsPlugin from './plugins/app/events.js'
import healthPlugin from './plugins/app/health.js'
import identity from './plugins/app/identity.js'
import metrics from './plugins/app/metrics.js'
import problems from './plugins/app/problems.js'
import rateLimit from './plugins/app/rate-limit.js'
import redis from './plugins/app/redis.js'
import webhooksWorker from './modules/webhooks/worker.js'
import compression from './plugins/app/compression.js'
import cors from './plugins/app/cors.js'
import helmet from './plugins/external/helmet.js'
import swagger from './plugins/external/swagger.js'
import underPressure from './plugins/external/under-pressure.js'
import { clientErrorHandler, sendFrameworkError } from './plugins/app/client-error.js'
import { parseJsonBody } from './lib/json-body.js'
import { keepRequestDeadlines } from './lib/request-deadline.js'
import { requestId } from './lib/request-id.js'
import { lazyChildLogger } from './lib/request-logger.js'
import { strictIntegers } from './lib/strict-integers.js'
import { ProblemSchema } from './lib/schemas.js'

export interface AppOptions {
  config: Config
  database: ConnectionTarget
}

declare module 'fastify' {
  interface FastifyInstance {
    appOptions: AppOptions
  }
}

/** One log line per request, when it completes; health checks and scrapes only when they fail. */
class RequestLog extends LogController {
  override incomingRequest() {}

  override requestCompleted(_err: unknown, request: FastifyRequest, reply: FastifyReply) {
    const status = reply.statusCode
    const level = status >= 500 ? 'error' : 'info'
    // pino's: no line is built when its level is off (LOG_LEVEL=warn or higher).
    const log = request.log as FastifyRequest['log'] & { isLevelEnabled?: (level: string) => boolean }
    if (log.isLevelEnabled && !log.isLevelEnabled(level)) return
    const route = request.routeOptions.url ?? 'unmatched'
    if (status < 400 && QUIET_ROUTES.test(route)) return
    const { url, cacheResult } = request
    const size = reply.getHeader('content-length')
    // Fields without a value (no key, no body length, no cache on the route, a success) are left out by pino.
    const line = {
      method: request.method,
      route,
      url: url.length > URL_LOG_MAX ? `${url.slice(0, URL_LOG_MAX)}…` : url,
      status,
      ms: Math.round(reply.elapsedTime * 100) / 100,
      ip: request.ip,
      apiKeyId: request.principal?.id,
      bytes: size === undefined ? undefined : Number(size),
      cache: cacheResult === 'none' ? undefined : cacheResult,
      code: status >= 400 ? (request.errorCode ?? undefined) : undefined
    }
    request.log[level](line, 'request completed')
  }
}

const QUIET_ROUTES = /^\/(health|metrics)(\/|$)/
/** The path and query as sent are logged up to this many characters. */
const URL_LOG_MAX = 512

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** Server-level options: everything that must be set when the Fastify instance is created. */
export function serverOptions(config: Config): FastifyServerOptions {
  return {
    logger: {
      level: config.LOG_LEVEL,
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'req.headers["x-api-key"]',
          'res.headers["set-cookie"]'
        ],
        censor: '[redacted]'
      },
      ...(config.LOG_PRETTY && config.NODE_ENV === 'development' ? { transport: { target: 'pino-pretty' } } : {})
    },
    logController: new RequestLog(),
    childLoggerFactory: lazyChildLogger,
    // A client's X-Request-Id is kept when well-formed, so one id follows a request across services.
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : requestId()
    },
    bodyLimit: config.BODY_LIMIT_BYTES,
    trustProxy: trustProxySetting(config),
    // REQUEST_TIMEOUT_MS is kept per request (keepRequestDeadlines below), so the import route can take it off.
    requestTimeout: 0,
    // Above the ALB's 60 s idle timeout, so the balancer, not us, closes idle connections (no 502 races).
    keepAliveTimeout: config.KEEP_ALIVE_TIMEOUT_MS,
    routerOptions: { maxParamLength: 100, ignoreTrailingSlash: false },
    return503OnClosing: false,
    frameworkErrors: sendFrameworkError,
    clientErrorHandler
  }
}

function strictValidators(app: FastifyInstance) {
  // Bodies are taken as sent: "12" is not 12 and unknown fields are errors, never stripped.
  const bodies = new Ajv({
    coerceTypes: false,
    useDefaults: true,
    removeAdditional: false,
    allErrors: true,
    strict: false
  })
  // Query strings and path parameters are text by nature, so they are coerced to the declared types.
  const params = new Ajv({
    coerceTypes: 'array',
    useDefaults: true,
    removeAdditional: false,
    allErrors: true,
    strict: false
  })
  addFormats.default(bodies)
  addFormats.default(params)
  app.setValidatorCompiler(({ schema, httpPart }) =>
    httpPart === 'body' ? bodies.compile(schema) : strictIntegers(schema, params.compile(schema))
  )
}

/** The whole service as one plugin: tests register it on their own Fastify instance. */
export default async function catalogApp(app: FastifyInstance, opts: AppOptions) {
  const { config } = opts
  app.decorate('appOptions', opts)
  strictValidators(app)
  // JSON only: Fastify would otherwise hand a text/plain body to the JSON schema (400 instead of 415).
  app.removeContentTypeParser('text/plain')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJsonBody)
  app.addSchema(ProblemSchema)

  app.server.headersTimeout = config.HEADERS_TIMEOUT_MS
  keepRequestDeadlines(app.server, config.REQUEST_TIMEOUT_MS)

  // Hooks on every request are callback-style: no promise per request for a few header lines.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    done()
  })
  // Once the listener has closed, every response (also of requests that began before) closes its connection,
  // so clients reconnect to another instance and no keep-alive connection holds the close up.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (app.health.closesConnections) reply.header('connection', 'close')
    done(null, payload)
  })

  // Errors and metrics first so they see everything; then the external plugins (headers, CORS, compression,
  // load shedding, docs); then our shared capabilities; then the routes that use them.
  await app.register(problems)
  await app.register(metrics)
  await app.register(healthPlugin)
  await app.register(helmet)
  await app.register(cors)
  await app.register(compression)
  await app.register(cacheControl)
  await app.register(underPressure)
  await app.register(swagger)
  await app.register(db)
  await app.register(identity)
  await app.register(auth)
  await app.register(redis)
  await app.register(cache)
  await app.register(rateLimit)
  await app.register(audit)
  await app.register(eventsPlugin)
  await app.register(webhooksWorker)

  await app.register(health)
  await app.register(
    async (api) => {
      await api.register(products)
      await api.register(categories)
      await api.register(apiKeys)
      await api.register(auditLogs)
      await api.register(events)
      await api.register(webhooks)
      await api.register(bulk)
    },
    { prefix: '/api/v1' }
  )
}
