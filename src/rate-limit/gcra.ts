import { BoundedMap } from '../lib/bounded-map.js'
import type { RedisConnection } from '../redis/connection.js'
import type { GcraReply } from '../redis/turn-batch.js'
import type { Policy } from '../lib/rate-limit-rules.js'

/** What a decision tells the client: remaining quota and seconds until it resets (or, when denied, until one is free). */
export interface Decision {
  allowed: boolean
  remaining: number
  /** Seconds (rounded up) until the quota is full again when allowed; until the next request is allowed when not. */
  resetSeconds: number
}

/**
 * GCRA (the generic cell rate algorithm): one timestamp per client, the "theoretical arrival time". A
 * request is allowed when it arrives no earlier than tat - window; each allowed one moves tat by
 * window/max (the same arithmetic runs in Redis, see RedisTurnBatch). Exactly `max` requests pass in a burst, and quota comes back smoothly: no fixed-window
 * double burst at a boundary. Times are in microseconds.
 */
export function gcra(tat: number, now: number, policy: Policy): { decision: Decision; tat: number } {
  const window = policy.windowMs * 1000
  const interval = window / policy.max
  const start = Math.max(tat, now)
  const next = start + interval
  if (next - now > window) {
    const wait = next - window - now
    return { decision: { allowed: false, remaining: 0, resetSeconds: Math.max(1, Math.ceil(wait / 1e6)) }, tat: start }
  }
  // Clamped: with sub-microsecond intervals (absurdly high quotas) floating point rounds next to now.
  const remaining = Math.min(policy.max - 1, Math.floor((window - (next - now)) / interval + 1e-9))
  return { decision: { allowed: true, remaining, resetSeconds: Math.max(1, Math.ceil((next - now) / 1e6)) }, tat: next }
}

/** Bounded per-instance limiter: the backend without Redis, and the fallback while Redis is down. */
export class MemoryLimiter {
  private readonly tats: BoundedMap<string, number>

  constructor(
    maxClients: number,
    private readonly divisor = 1
  ) {
    this.tats = new BoundedMap(maxClients)
  }

  decide(key: string, policy: Policy): Decision {
    const now = Date.now() * 1000
    const scaled = this.divisor === 1 ? policy : { ...policy, max: Math.max(1, Math.floor(policy.max / this.divisor)) }
    const { decision, tat } = gcra(this.tats.get(key) ?? 0, now, scaled)
    if (tat > now) this.tats.set(key, tat)
    else this.tats.delete(key)
    return decision
  }
}

const toDecision = ([allowed, remaining, resetSeconds]: GcraReply): Decision => ({
  allowed: allowed === 1,
  remaining,
  resetSeconds
})

/**
 * Decisions shared by every instance, made in Redis on its clock. Each is one operation of the turn's Redis
 * batch: it shares the script call with whatever else requests of the same turn ask (a cache hit's lookup).
 */
export class RedisLimiter {
  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string
  ) {}

  /** Rejects while Redis is unavailable or when the call fails (the caller falls back). */
  decide(key: string, policy: Policy): Promise<Decision> {
    const call = { key: `${this.prefix}rl:${key}`, windowMs: policy.windowMs, max: policy.max }
    return this.redis.run(() => this.redis.batch.gcra(call)).then(toDecision)
  }
}
