import type { GcraCall, GcraReply } from '../rate-limit/gcra.js'
import type { RedisClient } from '../redis/connection.js'
import { LuaScript } from '../redis/script.js'
import { FRESH_VERSION, VersionBatch } from './version-batch.js'

/**
 * Where entries and tag versions live. An entry is stored with the versions its tags had before its loader
 * ran; it is served only while they are still current, so invalidating a tag is one counter bump per tag
 * (no KEYS, no SCAN). The epoch is a tag every entry carries: bumping it drops everything at once.
 */
export interface CacheStore {
  readonly backend: 'redis' | 'memory'
  /** Current versions of `tags`; missing ones are created with a value never used before. */
  versions(tags: string[]): Promise<string>
  read(key: string): Promise<string | null>
  write(key: string, value: string, ttlSeconds: number): Promise<void>
  bump(tags: string[]): Promise<void>
  /**
   * As versions, making a rate-limit decision in the same script call (one command, shared with the other
   * lookups of the same turn). Only where the limiter's key may share a script with the tags: not in a cluster.
   */
  versionsWithLimit?(tags: string[], limit: GcraCall): Promise<{ versions: string; limit: GcraReply }>
}

export const EPOCH_TAG = '~epoch'

/** In-process: one instance's entries, bounded; eviction drops the oldest insertions first. */
export class MemoryStore implements CacheStore {
  readonly backend = 'memory'
  private readonly tagVersions = new Map<string, number>()
  private readonly entries = new Map<string, { value: string; expiresAt: number }>()
  private counter = Date.now() * 1000

  constructor(private readonly maxEntries: number) {}

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
    this.entries.delete(key)
    this.entries.set(key, { value, expiresAt: Date.now() + ttlSeconds * 1000 })
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value
      if (oldest !== undefined) this.entries.delete(oldest)
    }
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
 * made in one turn of the event loop share that script call (see VersionBatch).
 */
export class RedisStore implements CacheStore {
  readonly backend = 'redis'
  private readonly batch: VersionBatch

  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string
  ) {
    this.batch = new VersionBatch(client, this.tagKey)
    if (client.isCluster) this.versionsWithLimit = undefined
  }

  private tagKey = (tag: string) => `{${this.prefix}t}:${tag}`
  private entryKey = (key: string) => `${this.prefix}e:${key}`

  async versions(tags: string[]): Promise<string> {
    return (await this.batch.lookup(tags, null)).versions
  }

  versionsWithLimit?(tags: string[], limit: GcraCall): Promise<{ versions: string; limit: GcraReply }> {
    return this.batch.lookup(tags, limit) as Promise<{ versions: string; limit: GcraReply }>
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
