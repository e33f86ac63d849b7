import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Counter } from 'prom-client'
import { HotCounter } from '../../lib/hot-counter.js'
import { AppError } from '../../errors.js'
import { findActiveKey } from '../../modules/api-keys/repository.js'
import { RateLimitGate } from '../../rate-limit/gate.js'
import {
  type Decision,
  type GcraCall,
  type GcraReply,
  MemoryLimiter,
  RedisLimiter,
  toDecision
} from '../../rate-limit/gcra.js'
import { type Policy, parseRules, selectPolicy } from '../../rate-limit/rules.js'
import type { RedisConnection } from '../../redis/connection.js'
import { bearerToken } from '../../lib/bearer.js'

const EXEMPT = /^\/(health(\/|$)|metrics$)/
const KEY_CACHE_MS = 60_000
const KEY_CACHE_MAX = 10_000

type Backend = 'redis' | 'memory' | 'memory_fallback'

interface Identity {
  key: string
  role?: string
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The handler waits for `request.rateLimitGate` itself (respondCached does), so the decision rides with
     * the handler's first Redis call. Without it, onRequest waits for the decision.
     */
    deferRateLimit?: boolean
  }
  interface FastifyRequest {
    /** On deferRateLimit routes with Redis: the decision still to be made (see RateLimitGate). */
    rateLimitGate: RateLimitGate | null
  }
}

/** A quota item as draft-ietf-httpapi-ratelimit-headers-10 writes it (Structured Fields); made once per policy. */
const policyHeaders = new WeakMap<Policy, string>()
function policyHeader(policy: Policy): string {
  let header = policyHeaders.get(policy)
  if (header === undefined)
    policyHeaders.set(policy, (header = `"${policy.name}";q=${policy.max};w=${Math.ceil(policy.windowMs / 1000)}`))
  return header
}
const byAddress = (request: FastifyRequest): Identity => ({ key: `ip:${request.ip}` })
const stateHeader = (policy: Policy, decision: Decision) =>
  `"${policy.name}";r=${decision.remaining};t=${decision.resetSeconds}`

/**
 * Rate limiting in onRequest for every route but /health* and /metrics (unknown routes count too): GCRA,
 * decided atomically by a script in Redis, shared by all instances (on deferRateLimit routes the decision rides
 * in the cache's lookup script, see RateLimitGate and VersionBatch); an in-memory limiter without Redis, and
 * per instance (max / RATE_LIMIT_FALLBACK_DIVISOR) while Redis is unavailable.
 */
export default fp(
  async (app) => {
    const { config } = app.appOptions
    app.decorateRequest('rateLimitGate', null)
    if (!config.RATE_LIMIT_ENABLED) return
    const rules = parseRules(config.RATE_LIMIT_RULES)
    // Storefront keys have their own quota unless the rules give them one.
    if (!rules.some((r) => r.kind === 'role' && r.role === 'storefront'))
      rules.push(...parseRules(`storefront: role:storefront ${config.RATE_LIMIT_STOREFRONT}`))
    const anonymous: Policy = {
      name: 'default',
      max: config.RATE_LIMIT_MAX_REQUESTS,
      windowMs: config.RATE_LIMIT_WINDOW_MS
    }
    const { redis } = app
    const shared = redis ? new RedisLimiter(redis.client, config.REDIS_KEY_PREFIX) : null
    const memory = new MemoryLimiter(
      config.RATE_LIMIT_FALLBACK_MAX_CLIENTS,
      redis ? config.RATE_LIMIT_FALLBACK_DIVISOR : 1
    )
    const registers = [app.metrics.registry]
    const exceeded = new Counter({
      name: 'rate_limit_exceeded_total',
      help: 'Requests refused with 429, by route',
      labelNames: ['route'],
      registers
    })
    const decisions = new HotCounter({
      name: 'rate_limit_decisions_total',
      help: 'Rate-limit decisions by backend (redis, memory, memory_fallback) and outcome',
      labelNames: ['backend', 'outcome'],
      registers
    })
    const labelsOf = (backend: Backend) => ({
      allowed: { backend, outcome: 'allowed' },
      denied: { backend, outcome: 'denied' }
    })
    const decisionLabels = {
      redis: labelsOf('redis'),
      memory: labelsOf('memory'),
      memory_fallback: labelsOf('memory_fallback')
    }
    const countDecision = (backend: Backend, decision: Decision) =>
      decisions.inc(decisionLabels[backend][decision.allowed ? 'allowed' : 'denied'])
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

    /** The client's identity, at once unless an API key must be looked up. */
    function identify(request: FastifyRequest): Identity | Promise<Identity> {
      const token = bearerToken(request.headers.authorization)
      if (token && token.length <= 200) {
        // An unknown or revoked key counts against the address, so made-up keys are no way around the limit.
        const byKey = apiKeyOf(token)
        if (byKey instanceof Promise) return byKey.then((identity) => identity ?? byAddress(request))
        if (byKey) return byKey
      }
      return byAddress(request)
    }

    /** Sets the RateLimit headers and throws the 429 when the quota is used up. */
    function apply(reply: FastifyReply, route: string | undefined, policy: Policy, decision: Decision): void {
      reply.header('ratelimit-policy', policyHeader(policy))
      reply.header('ratelimit', stateHeader(policy, decision))
      if (decision.allowed) return
      exceeded.inc({ route: route ?? 'unmatched' })
      throw new AppError(
        'QUOTA_EXCEEDED',
        `The "${policy.name}" quota of ${policy.max} requests per ${Math.ceil(policy.windowMs / 1000)} s is used up; retry in ${decision.resetSeconds} s`,
        undefined,
        { 'retry-after': String(decision.resetSeconds) }
      )
    }

    /** Redis's answer, or on any failure the per-instance memory limiter's. */
    async function conclude(redisReply: Promise<GcraReply>, key: string, policy: Policy): Promise<Decision> {
      try {
        const decision = toDecision(await redisReply)
        if (onFallback) {
          onFallback = false
          app.log.warn('rate limiting is shared through redis again')
        }
        countDecision('redis', decision)
        return decision
      } catch {
        if (!onFallback) {
          onFallback = true
          app.log.warn(
            { divisor: config.RATE_LIMIT_FALLBACK_DIVISOR },
            'redis unavailable: rate limiting falls back to per-instance memory'
          )
        }
        return decideInMemory(key, policy, 'memory_fallback')
      }
    }

    function decideInMemory(key: string, policy: Policy, backend: 'memory' | 'memory_fallback'): Decision {
      const decision = memory.decide(key, policy)
      countDecision(backend, decision)
      return decision
    }

    const sendAlone = (call: GcraCall): Promise<GcraReply> =>
      (redis as RedisConnection).run(() => (shared as RedisLimiter).send(call))

    /** The request's decision through Redis, as a gate: the handler's first Redis call may carry it, `wait()` sends it. */
    function gateFor(
      request: FastifyRequest,
      reply: FastifyReply,
      route: string | undefined,
      identity: Identity,
      limiter: RedisLimiter
    ) {
      const policy = selectPolicy(rules, anonymous, request.method, route, identity.role)
      const key = `${policy.name}:${identity.key}`
      return new RateLimitGate(limiter.call(key, policy), sendAlone, (redisReply) =>
        conclude(redisReply, key, policy).then((decided) => apply(reply, route, policy, decided))
      )
    }

    /** Without Redis: decides at once; throws the 429. */
    function limitInMemory(
      request: FastifyRequest,
      reply: FastifyReply,
      route: string | undefined,
      identity: Identity
    ): void {
      const policy = selectPolicy(rules, anonymous, request.method, route, identity.role)
      apply(reply, route, policy, decideInMemory(`${policy.name}:${identity.key}`, policy, 'memory'))
    }

    app.addHook('onRequest', (request, reply, done) => {
      // routeOptions is a getter that builds a new object: read once.
      const { url: route, config: routeConfig } = request.routeOptions
      if (EXEMPT.test(route ?? request.url)) return done()
      const identity = identify(request)
      if (shared && routeConfig.deferRateLimit && !(identity instanceof Promise)) {
        request.rateLimitGate = gateFor(request, reply, route, identity, shared)
        return done()
      }
      const limit = (id: Identity): Promise<void> =>
        shared
          ? gateFor(request, reply, route, id, shared).wait()
          : new Promise((resolve) => resolve(limitInMemory(request, reply, route, id)))
      ;(identity instanceof Promise ? identity.then(limit) : limit(identity)).then(() => done(), done)
    })
  },
  { name: 'rate-limit', dependencies: ['metrics', 'redis', 'db'] }
)
