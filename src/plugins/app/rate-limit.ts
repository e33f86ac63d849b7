import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Counter } from 'prom-client'
import { AppError } from '../../errors.js'
import { HotCounter } from '../../lib/hot-counter.js'
import { type Decision, MemoryLimiter, RedisLimiter } from '../../rate-limit/gcra.js'
import { type Policy, parseRules, selectPolicy } from '../../lib/rate-limit-rules.js'
import { type Identity, isUnadmitted } from './identity.js'

type Backend = 'redis' | 'memory' | 'memory_fallback'

declare module 'fastify' {
  interface FastifyRequest {
    /** On public reads, the rate-limit decision the request carries (see `admitted`); null where onRequest waited. */
    admission: Promise<void> | null
    /**
     * Resolves when the request may read the database or answer; rejects with its 429 when its quota is used
     * up. Whatever answers or loads on a route whose decision is still pending waits here: respondCached
     * before a load and before it answers, the error handler before any error answer.
     */
    admitted(): Promise<void>
  }
}

const ADMITTED = Promise.resolve()
const ignore = () => {}

/** A quota item as draft-ietf-httpapi-ratelimit-headers-10 writes it (Structured Fields); made once per policy. */
const policyHeaders = new WeakMap<Policy, string>()
function policyHeader(policy: Policy): string {
  let header = policyHeaders.get(policy)
  if (header === undefined)
    policyHeaders.set(policy, (header = `"${policy.name}";q=${policy.max};w=${Math.ceil(policy.windowMs / 1000)}`))
  return header
}
const stateHeader = (policy: Policy, decision: Decision) =>
  `"${policy.name}";r=${decision.remaining};t=${decision.resetSeconds}`

/** The client a quota counts: its API key, or its address (unknown and revoked keys count against it too). */
const clientKey = (request: FastifyRequest, identity: Identity) =>
  identity.kind === 'key' ? `k:${identity.key.id}` : `ip:${request.ip}`

/**
 * Rate limiting, the one place of the rule "a refused request gets its 429 before anything else: before a
 * validation error, before any database read". Every route but /health* and /metrics counts (unknown routes
 * too), by `request.identity`. GCRA, decided in Redis and shared by all instances; in memory without Redis, and
 * per instance (max / RATE_LIMIT_FALLBACK_DIVISOR) while Redis is unavailable.
 *
 * The decision is made once, in onRequest. Through Redis it is queued in the turn's Redis batch (see
 * RedisTurnBatch) and not awaited there on public reads (routes answered through the response cache): their
 * handler's tag lookup joins the same batch, so a cache hit costs one Redis round trip for both. Such a request
 * carries the pending decision in `request.admission`, and everything that could answer or reach the database
 * waits for it through `request.admitted()`. On every other route onRequest waits for the decision.
 */
export default fp(
  async (app) => {
    const { config } = app.appOptions
    app.decorateRequest('admission', null)
    app.decorateRequest('admitted', function (this: FastifyRequest) {
      return this.admission ?? ADMITTED
    })
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
    const shared = redis ? new RedisLimiter(redis, config.REDIS_KEY_PREFIX) : null
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
    const seriesOf = (backend: Backend) => ({
      allowed: decisions.series({ backend, outcome: 'allowed' }),
      denied: decisions.series({ backend, outcome: 'denied' })
    })
    const decisionSeries = {
      redis: seriesOf('redis'),
      memory: seriesOf('memory'),
      memory_fallback: seriesOf('memory_fallback')
    }
    const countDecision = (backend: Backend, decision: Decision) =>
      decisionSeries[backend][decision.allowed ? 'allowed' : 'denied'].inc()
    let onFallback = false

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

    function decideInMemory(key: string, policy: Policy, backend: 'memory' | 'memory_fallback'): Decision {
      const decision = memory.decide(key, policy)
      countDecision(backend, decision)
      return decision
    }

    /** Redis's decision, or on any failure the per-instance memory limiter's. */
    async function decideShared(limiter: RedisLimiter, key: string, policy: Policy): Promise<Decision> {
      try {
        const decision = await limiter.decide(key, policy)
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

    app.addHook('onRequest', (request, reply, done) => {
      // routeOptions is a getter that builds a new object: read once.
      const { url: route, config: routeConfig } = request.routeOptions
      if (isUnadmitted(route ?? request.url)) return done()
      const identity = request.identity
      const policy = selectPolicy(
        rules,
        anonymous,
        request.method,
        route,
        identity.kind === 'key' ? identity.key.role : undefined
      )
      const key = `${policy.name}:${clientKey(request, identity)}`
      if (!shared) {
        try {
          apply(reply, route, policy, decideInMemory(key, policy, 'memory'))
        } catch (refusal) {
          return done(refusal as Error)
        }
        return done()
      }
      const outcome = decideShared(shared, key, policy).then((decision) => apply(reply, route, policy, decision))
      if (routeConfig.publicRead === true) {
        // Observed at once: a refusal nobody waits for (the request was aborted) is no unhandled rejection.
        outcome.catch(ignore)
        request.admission = outcome
        return done()
      }
      outcome.then(() => done(), done)
    })
  },
  { name: 'rate-limit', dependencies: ['metrics', 'redis', 'db', 'identity'] }
)
