import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Counter } from 'prom-client'
import { AppError } from '../../errors.js'
import { findActiveKey } from '../../modules/api-keys/repository.js'
import { type Decision, MemoryLimiter, RedisLimiter } from '../../rate-limit/gcra.js'
import { type Policy, parseRules, selectPolicy } from '../../rate-limit/rules.js'

const EXEMPT = /^\/(health(\/|$)|metrics$)/
const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/
const KEY_CACHE_MS = 60_000
const KEY_CACHE_MAX = 10_000

interface Identity {
  key: string
  role?: string
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The handler awaits `request.rateLimitGate` itself (respondCached does), so the decision and the
     * handler's first Redis command go out in one round trip. Without it, onRequest waits for the decision.
     */
    deferRateLimit?: boolean
  }
  interface FastifyRequest {
    /** On deferRateLimit routes: settles once the request may go on; rejects with the 429 otherwise. */
    rateLimitGate: Promise<void> | null
  }
}

const ignore = () => {}

/** A quota item as draft-ietf-httpapi-ratelimit-headers-10 writes it (Structured Fields). */
const policyHeader = (policy: Policy) => `"${policy.name}";q=${policy.max};w=${Math.ceil(policy.windowMs / 1000)}`
const stateHeader = (policy: Policy, decision: Decision) => `"${policy.name}";r=${decision.remaining};t=${decision.resetSeconds}`

/**
 * Rate limiting in onRequest for every route but /health* and /metrics (unknown routes count too): one
 * GCRA script per decision in Redis, shared by all instances; an in-memory limiter without Redis, and per
 * instance (max / RATE_LIMIT_FALLBACK_DIVISOR) while Redis is unavailable.
 */
export default fp(
  async (app) => {
    const { config } = app.appOptions
    app.decorateRequest('rateLimitGate', null)
    if (!config.RATE_LIMIT_ENABLED) return
    const rules = parseRules(config.RATE_LIMIT_RULES)
    const anonymous: Policy = { name: 'default', max: config.RATE_LIMIT_MAX_REQUESTS, windowMs: config.RATE_LIMIT_WINDOW_MS }
    const { redis } = app
    const shared = redis ? new RedisLimiter(redis.client, config.REDIS_KEY_PREFIX) : null
    const memory = new MemoryLimiter(config.RATE_LIMIT_FALLBACK_MAX_CLIENTS, redis ? config.RATE_LIMIT_FALLBACK_DIVISOR : 1)
    const registers = [app.metrics.registry]
    const exceeded = new Counter({ name: 'rate_limit_exceeded_total', help: 'Requests refused with 429, by route', labelNames: ['route'], registers })
    const decisions = new Counter({
      name: 'rate_limit_decisions_total',
      help: 'Rate-limit decisions by backend (redis, memory, memory_fallback) and outcome',
      labelNames: ['backend', 'outcome'],
      registers
    })
    let onFallback = false

    const keys = new Map<string, { identity: Identity | null; expires: number }>()
    function apiKeyOf(token: string): Identity | null | Promise<Identity | null> {
      const known = keys.get(token)
      if (known && known.expires > Date.now()) return known.identity
      return lookUpKey(token)
    }
    async function lookUpKey(token: string): Promise<Identity | null> {
      const now = Date.now()
      let identity: Identity | null = null
      try {
        const row = await findActiveKey(app.db.primary, token)
        if (row) identity = { key: `k:${row.id}`, role: row.role }
      } catch {
        // Without the database the request fails anyway; limit it by address meanwhile.
        return null
      }
      keys.delete(token)
      keys.set(token, { identity, expires: now + KEY_CACHE_MS })
      if (keys.size > KEY_CACHE_MAX) keys.delete(keys.keys().next().value as string)
      return identity
    }

    async function identify(request: FastifyRequest): Promise<Identity> {
      const header = request.headers.authorization
      const token = header ? BEARER.exec(header)?.[1] : undefined
      // An unknown or revoked key counts against the address, so made-up keys are no way around the limit.
      const byKey = token && token.length <= 200 ? await apiKeyOf(token) : null
      return byKey ?? { key: `ip:${request.ip}` }
    }

    /** Decides, sets the RateLimit headers, and throws the 429 when the quota is used up. */
    async function limit(request: FastifyRequest, reply: FastifyReply, route: string | undefined): Promise<void> {
      const identity = await identify(request)
      const policy = selectPolicy(rules, anonymous, request.method, route, identity.role)
      const decision = await decide(`${policy.name}:${identity.key}`, policy)
      reply.header('ratelimit-policy', policyHeader(policy))
      reply.header('ratelimit', stateHeader(policy, decision))
      if (!decision.allowed) {
        exceeded.inc({ route: route ?? 'unmatched' })
        throw new AppError(
          'QUOTA_EXCEEDED',
          `The "${policy.name}" quota of ${policy.max} requests per ${Math.ceil(policy.windowMs / 1000)} s is used up; retry in ${decision.resetSeconds} s`,
          undefined,
          { 'retry-after': String(decision.resetSeconds) }
        )
      }
    }

    async function decide(key: string, policy: Policy): Promise<Decision> {
      if (shared && redis) {
        try {
          const decision = await redis.run(() => shared.decide(key, policy))
          if (onFallback) {
            onFallback = false
            app.log.warn('rate limiting is shared through redis again')
          }
          decisions.inc({ backend: 'redis', outcome: decision.allowed ? 'allowed' : 'denied' })
          return decision
        } catch {
          if (!onFallback) {
            onFallback = true
            app.log.warn({ divisor: config.RATE_LIMIT_FALLBACK_DIVISOR }, 'redis unavailable: rate limiting falls back to per-instance memory')
          }
        }
      }
      const decision = memory.decide(key, policy)
      decisions.inc({ backend: shared ? 'memory_fallback' : 'memory', outcome: decision.allowed ? 'allowed' : 'denied' })
      return decision
    }

    app.addHook('onRequest', (request, reply, done) => {
      // routeOptions is a getter that builds a new object: read once.
      const { url: route, config: routeConfig } = request.routeOptions
      if (EXEMPT.test(route ?? request.url)) return done()
      const gate = limit(request, reply, route)
      if (routeConfig.deferRateLimit) {
        // Observed now so a refusal is never an unhandled rejection; the handler awaits it before answering.
        gate.catch(ignore)
        request.rateLimitGate = gate
        return done()
      }
      gate.then(() => done(), done)
    })
  },
  { name: 'rate-limit', dependencies: ['metrics', 'redis', 'db'] }
)
