import { GCRA_LUA, type GcraCall, type GcraReply } from '../rate-limit/gcra.js'
import type { RedisClient } from '../redis/connection.js'
import { LuaScript } from '../redis/script.js'

/** What one lookup gets back: its tags' versions, comma-joined, and the decision it carried, if any. */
export interface BatchReply {
  versions: string
  limit?: GcraReply
}

interface Lookup {
  tags: string[]
  limit: GcraCall | null
  resolve: (reply: BatchReply) => void
  reject: (err: unknown) => void
}

// A missing tag (never set, evicted, Redis restarted) gets a value from Redis's clock (a Lua expression), so
// it can never come back to a version an old entry was stored with.
export const FRESH_VERSION =
  "(function() local t = redis.call('TIME') return t[1] .. string.format('%06d', t[2]) end)()"

/** Lookups per script call at most; more start another batch (Lua's unpack has a stack limit). */
export const MAX_BATCH = 256

// KEYS: the batch's distinct tag keys (ARGV[1] of them), then its distinct rate-limit keys. ARGV after the
// first: per decision, the KEYS index of its limiter key, window (ms) and quota. Decisions run in order on one
// clock reading; a key asked twice sees the first decision's outcome (read once, written once per batch).
// Answers three numbers per decision, then the version of every tag key (missing ones get a fresh one).
const BATCH = new LuaScript(`${GCRA_LUA}
local ntags = tonumber(ARGV[1])
local reply = {}
if #ARGV > 1 then
  local now = clock()
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
  for k in pairs(changed) do store_tat(KEYS[k], tats[k], now) end
end
if ntags > 0 then
  local versions = redis.call('MGET', unpack(KEYS, 1, ntags))
  local fresh
  for i = 1, ntags do
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
 * Coalesces the tag-version lookups (each with the rate-limit decision it may carry) that requests make in
 * one turn of the event loop into one script call: requests read in the same poll phase cost Redis one
 * command, not one each, and the process one command to build, send, time and parse. The batch goes out in
 * the check phase (setImmediate), after every socket read in that phase was handled. All decisions stay
 * atomic (one script) and each request still gets its own answer; a failed call fails every lookup of its
 * batch, which then fall back one by one as before.
 */
export class VersionBatch {
  private queue: Lookup[] = []

  constructor(
    private readonly client: RedisClient,
    private readonly tagKey: (tag: string) => string
  ) {}

  lookup(tags: string[], limit: GcraCall | null): Promise<BatchReply> {
    return new Promise((resolve, reject) => {
      if (this.queue.length === 0) setImmediate(this.flush)
      this.queue.push({ tags, limit, resolve, reject })
      if (this.queue.length >= MAX_BATCH) this.flush()
    })
  }

  private readonly flush = (): void => {
    const batch = this.queue
    if (batch.length === 0) return
    this.queue = []
    const tagIndex = new Map<string, number>()
    const keys: string[] = []
    for (const { tags } of batch) {
      for (const tag of tags) {
        if (!tagIndex.has(tag)) {
          tagIndex.set(tag, keys.length)
          keys.push(this.tagKey(tag))
        }
      }
    }
    const args: (string | number)[] = [keys.length]
    const limitIndex = new Map<string, number>()
    let decisions = 0
    for (const { limit } of batch) {
      if (!limit) continue
      let index = limitIndex.get(limit.key)
      if (index === undefined) {
        keys.push(limit.key)
        limitIndex.set(limit.key, (index = keys.length))
      }
      args.push(index, limit.windowMs, limit.max)
      decisions++
    }
    BATCH.run<(number | string)[]>(this.client, keys, args).then(
      (reply) => {
        const first = decisions * 3
        let decision = 0
        for (const lookup of batch) {
          let versions = ''
          for (let i = 0; i < lookup.tags.length; i++) {
            const version = reply[first + (tagIndex.get(lookup.tags[i] as string) as number)] as string
            versions = i === 0 ? version : `${versions},${version}`
          }
          if (!lookup.limit) {
            lookup.resolve({ versions })
            continue
          }
          const at = 3 * decision++
          lookup.resolve({ versions, limit: [reply[at] as number, reply[at + 1] as number, reply[at + 2] as number] })
        }
      },
      (err: unknown) => {
        for (const lookup of batch) lookup.reject(err)
      }
    )
  }
}
