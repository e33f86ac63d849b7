import type { RedisClient } from '../redis/connection.js'
import { LuaScript } from '../redis/script.js'
import type { Policy } from './rules.js'

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
 * window/max. Exactly `max` requests pass in a burst, and quota comes back smoothly: no fixed-window
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
  private readonly tats = new Map<string, number>()

  constructor(
    private readonly maxClients: number,
    private readonly divisor = 1
  ) {}

  decide(key: string, policy: Policy): Decision {
    const now = Date.now() * 1000
    const scaled = this.divisor === 1 ? policy : { ...policy, max: Math.max(1, Math.floor(policy.max / this.divisor)) }
    const { decision, tat } = gcra(this.tats.get(key) ?? 0, now, scaled)
    this.tats.delete(key)
    if (tat > now) this.tats.set(key, tat)
    if (this.tats.size > this.maxClients) {
      const oldest = this.tats.keys().next().value
      if (oldest !== undefined) this.tats.delete(oldest)
    }
    return decision
  }
}

// The same arithmetic in Lua, on Redis's clock so instances' clocks do not matter. Functions, so the cache's
// lookup script can make decisions in the same call (see VersionBatch). gcra_step answers allowed (1/0),
// remaining, seconds, and the client's timestamp afterwards (unchanged when refused).
export const GCRA_LUA = `
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function gcra_step(tat, now, windowMs, max)
  local window = windowMs * 1000
  local interval = window / max
  local nxt = math.max(tat, now) + interval
  if nxt - now > window then
    return 0, 0, math.max(1, math.ceil((nxt - window - now) / 1000000)), tat
  end
  return 1, math.min(max - 1, math.floor((window - (nxt - now)) / interval + 1e-9)), math.max(1, math.ceil((nxt - now) / 1000000)), nxt
end
local function store_tat(key, tat, now)
  redis.call('SET', key, string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
end
local function gcra(key, windowMs, max)
  local now = clock()
  local allowed, remaining, reset, tat = gcra_step(tonumber(redis.call('GET', key)) or 0, now, windowMs, max)
  if allowed == 1 then store_tat(key, tat, now) end
  return {allowed, remaining, reset}
end
`

/** One decision to make in Redis: the client's full key and its policy. */
export interface GcraCall {
  key: string
  windowMs: number
  max: number
}

/** What the script answers: allowed (1/0), remaining, seconds. */
export type GcraReply = [number, number, number]

export const toDecision = ([allowed, remaining, resetSeconds]: GcraReply): Decision => ({
  allowed: allowed === 1,
  remaining,
  resetSeconds
})

const DECIDE = new LuaScript(`${GCRA_LUA}return gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))`)

export class RedisLimiter {
  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string
  ) {}

  call(key: string, policy: Policy): GcraCall {
    return { key: `${this.prefix}rl:${key}`, windowMs: policy.windowMs, max: policy.max }
  }

  send({ key, windowMs, max }: GcraCall): Promise<GcraReply> {
    return DECIDE.run<GcraReply>(this.client, [key], [windowMs, max])
  }
}
