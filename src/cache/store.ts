import { BoundedMap } from '../lib/bounded-map.js'
import type { RedisClient } from '../redis/connection.js'
import { LuaScript } from '../redis/script.js'
import { FRESH_VERSION, type RedisTurnBatch } from '../redis/turn-batch.js'

/**
 * Where entries and tag versions live. An entry is stored with the versions its tags had before its loader
 * ran; it is served only while they are still current, so invalidating a tag is one counter bump per tag
 * (no KEYS, no SCAN). The epoch is a tag every entry carries: bumping it drops everything at once.
 */
export interface CacheStore {
  /** Current versions of `tags`; missing ones are created with a value never used before. */
  versions(tags: string[]): Promise<string>
  read(key: string): Promise<string | null>
  write(key: string, value: string, ttlSeconds: number): Promise<void>
  bump(tags: string[]): Promise<void>
}

export const EPOCH_TAG = '~epoch'

/** In-process: one instance's entries, bounded; eviction drops the oldest writes first. */
export class MemoryStore implements CacheStore {
  private readonly tagVersions = new Map<string, number>()
  private readonly entries: BoundedMap<string, { value: string; expiresAt: number }>
  private counter = Date.now() * 1000

  constructor(maxEntries: number) {
    this.entries = new BoundedMap(maxEntries)
  }

  async versions(tags: string[]): Promise<string> {
    return tags.map((tag) => this.version(tag)).join(',')
  }

  private version(tag: string): number {
    let version = this.tagVersions.get(tag)
    if (version === undefined) {
      version = ++this.counter
      this.tagVersions.set(tag, version)
    }
    return version
  }

  async read(key: string): Promise<string | null> {
    const entry = this.entries.get(key)
    if (!entry) return null
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(key)
      return null
    }
    return entry.value
  }

  async write(key: string, value: string, ttlSeconds: number): Promise<void> {
    this.entries.set(key, { value, expiresAt: Date.now() + ttlSeconds * 1000 })
  }

  async bump(tags: string[]): Promise<void> {
    for (const tag of tags) this.tagVersions.set(tag, ++this.counter)
  }
}

const BUMP = new LuaScript(`local fresh = ${FRESH_VERSION}
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('INCR', key) else redis.call('SET', key, fresh) end
end
return 1`)

/**
 * Redis: entries under `<prefix>e:<key>` (single-key commands, spread over the cluster); all tag versions
 * under the hash tag `{<prefix>t}`, one slot, so the versions of any entry are one script. Version lookups
 * are operations of the turn's Redis batch: those of one event-loop turn share one script call.
 */
export class RedisStore implements CacheStore {
  constructor(
    private readonly client: RedisClient,
    private readonly batch: RedisTurnBatch,
    private readonly prefix: string
  ) {}

  private tagKey = (tag: string) => `{${this.prefix}t}:${tag}`
  private entryKey = (key: string) => `${this.prefix}e:${key}`

  versions(tags: string[]): Promise<string> {
    return this.batch.versions(tags.map(this.tagKey))
  }

  read(key: string): Promise<string | null> {
    return this.client.get(this.entryKey(key))
  }

  async write(key: string, value: string, ttlSeconds: number): Promise<void> {
    await this.client.set(this.entryKey(key), value, 'EX', ttlSeconds)
  }

  async bump(tags: string[]): Promise<void> {
    const keys = tags.map(this.tagKey)
    await BUMP.run(this.client, keys, [])
  }
}
