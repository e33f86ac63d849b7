import calculateSlot from 'cluster-key-slot'
import type { RedisClient } from './connection.js'
import { LuaScript } from './script.js'

/** A GCRA step to take in Redis: the client's full key and its policy. */
export interface GcraCall {
  key: string
  windowMs: number
  max: number
}

/** What a GCRA step answers: allowed (1/0), remaining, seconds until reset (or until the next one is allowed). */
export type GcraReply = [number, number, number]

type Operation =
  | { kind: 'versions'; keys: string[]; resolve: (versions: string) => void; reject: (err: unknown) => void }
  | { kind: 'gcra'; call: GcraCall; resolve: (reply: GcraReply) => void; reject: (err: unknown) => void }

/** A missing version key gets a value from Redis's clock, so it never comes back to a version used before. */
export const FRESH_VERSION =
  "(function() local t = redis.call('TIME') return t[1] .. string.format('%06d', t[2]) end)()"

/** Operations per script call at most; more start another call (Lua's unpack has a stack limit). */
export const MAX_BATCH = 256

// KEYS: the call's distinct version keys (ARGV[1] of them), then its distinct GCRA keys. ARGV after the first:
// per GCRA step, the KEYS index of its key, window (ms) and quota. Steps run in order on one clock reading; a
// key asked twice sees the first step's outcome (read once, written once per call). Answers three numbers per
// step, then the value of every version key (missing ones get a fresh one). GCRA: one "theoretical arrival
// time" per client, in microseconds, on Redis's clock so the instances' clocks do not matter.
const SCRIPT = new LuaScript(`
local function gcra_step(tat, now, windowMs, max)
  local window = windowMs * 1000
  local interval = window / max
  local nxt = math.max(tat, now) + interval
  if nxt - now > window then
    return 0, 0, math.max(1, math.ceil((nxt - window - now) / 1000000)), tat
  end
  return 1, math.min(max - 1, math.floor((window - (nxt - now)) / interval + 1e-9)), math.max(1, math.ceil((nxt - now) / 1000000)), nxt
end
local nversions = tonumber(ARGV[1])
local reply = {}
if #ARGV > 1 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local tats, changed = {}, {}
  for i = 2, #ARGV, 3 do
    local k = tonumber(ARGV[i])
    local tat = tats[k]
    if tat == nil then tat = tonumber(redis.call('GET', KEYS[k])) or 0 end
    local allowed, remaining, reset, nxt = gcra_step(tat, now, tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]))
    tats[k] = nxt
    if allowed == 1 then changed[k] = true end
    reply[#reply + 1] = allowed
    reply[#reply + 1] = remaining
    reply[#reply + 1] = reset
  end
  for k in pairs(changed) do
    redis.call('SET', KEYS[k], string.format('%.0f', tats[k]), 'PX', math.ceil((tats[k] - now) / 1000) + 1000)
  end
end
if nversions > 0 then
  local versions = redis.call('MGET', unpack(KEYS, 1, nversions))
  local fresh
  for i = 1, nversions do
    if not versions[i] then
      fresh = fresh or ${FRESH_VERSION}
      redis.call('SET', KEYS[i], fresh, 'NX')
      versions[i] = fresh
    end
    reply[#reply + 1] = versions[i]
  end
end
return reply`)

/**
 * The Redis operations that requests start in one turn of the event loop, sent as one script call: version
 * lookups (read-or-create counters, e.g. the cache's tags) and GCRA steps (e.g. rate-limit decisions). Requests
 * read in the same poll phase cost Redis one command, not one each: a cache hit's tag versions and its request's
 * rate-limit decision share a round trip. The call goes out in the check phase (setImmediate), after every
 * socket read of that phase was handled. A failed call fails every operation it carried. In a cluster the
 * operations are split by hash slot, one call per slot (the keys of one version lookup must share a slot).
 */
export class RedisTurnBatch {
  private queue: Operation[] = []

  constructor(private readonly client: RedisClient) {}

  /** The values of `keys`, comma-joined in their order; missing ones are created with a never-used value. */
  versions(keys: string[]): Promise<string> {
    return new Promise((resolve, reject) => this.add({ kind: 'versions', keys, resolve, reject }))
  }

  /** One GCRA step (allowed, remaining, seconds); an allowed one is stored. */
  gcra(call: GcraCall): Promise<GcraReply> {
    return new Promise((resolve, reject) => this.add({ kind: 'gcra', call, resolve, reject }))
  }

  private add(operation: Operation): void {
    if (this.queue.length === 0) setImmediate(this.flush)
    this.queue.push(operation)
    if (this.queue.length >= MAX_BATCH) this.flush()
  }

  private readonly flush = (): void => {
    const batch = this.queue
    if (batch.length === 0) return
    this.queue = []
    if (!this.client.isCluster) return this.send(batch)
    const bySlot = new Map<number, Operation[]>()
    for (const operation of batch) {
      const slot = calculateSlot(operation.kind === 'gcra' ? operation.call.key : (operation.keys[0] ?? ''))
      const group = bySlot.get(slot)
      if (group) group.push(operation)
      else bySlot.set(slot, [operation])
    }
    for (const group of bySlot.values()) this.send(group)
  }

  private send(batch: Operation[]): void {
    const versionIndex = new Map<string, number>()
    const keys: string[] = []
    for (const operation of batch) {
      if (operation.kind !== 'versions') continue
      for (const key of operation.keys) {
        if (!versionIndex.has(key)) {
          versionIndex.set(key, keys.length)
          keys.push(key)
        }
      }
    }
    const args: (string | number)[] = [keys.length]
    const gcraIndex = new Map<string, number>()
    let steps = 0
    for (const operation of batch) {
      if (operation.kind !== 'gcra') continue
      const { key, windowMs, max } = operation.call
      let index = gcraIndex.get(key)
      if (index === undefined) {
        keys.push(key)
        gcraIndex.set(key, (index = keys.length))
      }
      args.push(index, windowMs, max)
      steps++
    }
    SCRIPT.run<(number | string)[]>(this.client, keys, args).then(
      (reply) => {
        const first = steps * 3
        let step = 0
        for (const operation of batch) {
          if (operation.kind === 'gcra') {
            const at = 3 * step++
            operation.resolve([reply[at] as number, reply[at + 1] as number, reply[at + 2] as number])
            continue
          }
          let versions = ''
          for (let i = 0; i < operation.keys.length; i++) {
            const version = reply[first + (versionIndex.get(operation.keys[i] as string) as number)] as string
            versions = i === 0 ? version : `${versions},${version}`
          }
          operation.resolve(versions)
        }
      },
      (err: unknown) => {
        for (const operation of batch) operation.reject(err)
      }
    )
  }
}
