import type { FastifyBaseLogger } from 'fastify'
import { Counter, type Registry } from 'prom-client'
import { BoundedMap } from '../lib/bounded-map.js'
import { type CounterSeries, HotCounter } from '../lib/hot-counter.js'
import type { ReadContext } from '../db/read-context.js'
import type { RedisConnection } from '../redis/connection.js'
import { type CacheStore, EPOCH_TAG } from './store.js'

/** Loads the value on a miss, reading the database as `context` allows (see fillContext). */
export type Loader = (context: ReadContext) => Promise<string>

/**
 * How a response relates to the cache: answered from it (hit), loaded and stored (miss), loaded without it
 * because it was unavailable or off (bypass), or from a route that has none (none).
 */
export type CacheResult = 'hit' | 'miss' | 'bypass' | 'none'

/** Where lookups nobody asked about write their result. */
const unreported: { cacheResult: CacheResult } = { cacheResult: 'none' }

export interface GetOptions {
  /** Names the cache in metrics, e.g. 'product' or 'product-list'. */
  name: string
  tags: string[]
  /** Seconds; CACHE_TTL_SECONDS when unset. */
  ttl?: number
  /**
   * Awaited before the loader runs or joins another lookup's load (e.g. the request's admission): when it
   * rejects, the lookup fails with its reason and nothing is read. Hits do not wait for it here.
   */
  beforeLoad?: () => Promise<void>
}

export function createCacheMetrics(registry: Registry) {
  const labelNames = ['cache'] as const
  return {
    // Counted on every hit: see HotCounter.
    hits: new HotCounter({
      name: 'cache_hits_total',
      help: 'Cache lookups answered from the cache',
      labelNames,
      registers: [registry]
    }),
    misses: new Counter({
      name: 'cache_misses_total',
      help: 'Cache lookups that ran the loader',
      labelNames,
      registers: [registry]
    }),
    errors: new Counter({
      name: 'cache_errors_total',
      help: 'Cache operations that failed in the store',
      labelNames,
      registers: [registry]
    }),
    fallbacks: new Counter({
      name: 'cache_fallbacks_total',
      help: 'Lookups served by the loader because the shared store was unavailable',
      labelNames,
      registers: [registry]
    })
  }
}

export type CacheMetrics = ReturnType<typeof createCacheMetrics>

interface LocalEntry {
  versions: string
  value: string
  expiresAt: number
  /** What getView made of `value`, kept with the entry so hits do not redo it. */
  view?: unknown
}

/**
 * Read-through cache of serialized responses. Entries carry the versions their tags had before the loader
 * ran and are served only while those are current, so a write that bumped a tag (before its response) is
 * seen by every instance at once. With Redis, an in-process copy saves fetching the body, but is still
 * checked against the shared versions on every hit. Without Redis (down or circuit open) lookups go to the
 * loader, never to possibly stale local copies.
 */
export class Cache {
  private readonly local: BoundedMap<string, LocalEntry>
  private readonly flights = new Map<string, Promise<string>>()
  /** Each cache name's hit series, found once (a cache name is its label key). */
  private readonly hitSeries = new Map<string, CounterSeries<'cache'>>()
  /** After an outage the cache is bypassed until then (see the recovery listener). */
  private bypassUntil = 0

  constructor(
    private readonly store: CacheStore,
    private readonly options: {
      defaultTtl: number
      /** In-process copies kept in front of Redis (0 = none). */
      localMaxEntries: number
      metrics: CacheMetrics
      log: FastifyBaseLogger
      redis?: RedisConnection
      /** How long after its recovery an instance still bypasses the cache (see below). */
      recoveryGraceMs?: number
      /**
       * Where a fill may read: it must see every write whose invalidation happened before it began. Default:
       * the primary; with replicas, a replica that has replayed the primary's WAL position read at fill start.
       */
      fillContext?: () => Promise<ReadContext>
    }
  ) {
    this.local = new BoundedMap(options.redis ? options.localMaxEntries : 0)
    options.redis?.onRecovery(async () => {
      // Writes during the outage may have missed their invalidation: nothing stored before is trusted. Other
      // instances that missed invalidations bump the epoch when they recover, which may be a little later
      // (their probe and reconnect timers): until that has surely happened, this one reads the database.
      await this.store.bump([EPOCH_TAG])
      this.local.clear()
      this.bypassUntil = Date.now() + (options.recoveryGraceMs ?? 0)
    })
  }

  /** The value for `key` (loaded on a miss) as `view(value)`, computed once per in-process entry (e.g. a Buffer). */
  async getView<T>(
    key: string,
    loader: Loader,
    options: GetOptions,
    view: (value: string) => T,
    /** Gets the lookup's result (e.g. the request, for its metrics and log line). */
    report?: { cacheResult: CacheResult }
  ): Promise<T> {
    const { value, entry } = await this.lookup(key, loader, options, report)
    if (!entry) return view(value)
    entry.view ??= view(value)
    return entry.view as T
  }

  private async lookup(
    key: string,
    loader: Loader,
    options: GetOptions,
    // Set before any load, so a request whose load fails (e.g. 404) still shows what the cache did.
    report: { cacheResult: CacheResult } = unreported
  ): Promise<{ value: string; entry?: LocalEntry }> {
    const { redis, metrics } = this.options
    const cache = options.name
    if (redis && (!redis.available() || (this.bypassUntil !== 0 && Date.now() < this.bypassUntil))) {
      metrics.fallbacks.inc({ cache })
      report.cacheResult = 'bypass'
      await options.beforeLoad?.()
      return { value: await this.direct(loader) }
    }
    const tags = [EPOCH_TAG, ...options.tags]
    const versionsOf = () => this.store.versions(tags)
    let versions: string
    try {
      const local = this.localEntry(key)
      let stored: string | null
      if (local) {
        versions = await this.guard(versionsOf)
        if (versions === local.versions) {
          this.hitsOf(cache).inc()
          report.cacheResult = 'hit'
          return { value: local.value, entry: local }
        }
        stored = await this.guard(() => this.store.read(key))
      } else {
        ;[versions, stored] = await this.guard(() => Promise.all([versionsOf(), this.store.read(key)]))
      }
      if (stored !== null) {
        const newline = stored.indexOf('\n')
        if (stored.slice(0, newline) === versions) {
          this.hitsOf(cache).inc()
          const value = stored.slice(newline + 1)
          report.cacheResult = 'hit'
          return { value, entry: this.remember(key, versions, value, options) }
        }
      }
    } catch (err) {
      metrics.errors.inc({ cache })
      metrics.fallbacks.inc({ cache })
      report.cacheResult = 'bypass'
      this.options.log.debug({ err, cache }, 'cache lookup failed; using the loader')
      await options.beforeLoad?.()
      return { value: await this.direct(loader) }
    }
    metrics.misses.inc({ cache })
    report.cacheResult = 'miss'
    await options.beforeLoad?.()
    // Concurrent misses with the same versions share one load; a lookup after a write sees other versions
    // and starts its own, so it never joins a load that may have read the data before the write.
    const value = await this.flight(`${key}\u0000${versions}`, async (context) => {
      const value = await loader(context)
      const ttl = options.ttl ?? this.options.defaultTtl
      this.guard(() => this.store.write(key, `${versions}\n${value}`, ttl)).catch((err) => {
        metrics.errors.inc({ cache })
        this.options.log.debug({ err, cache }, 'cache fill failed')
      })
      this.remember(key, versions, value, options)
      return value
    })
    return { value }
  }

  /** Makes every entry tagged with one of `tags` stale; awaited by writes before they answer. */
  async invalidate(tags: string[]): Promise<void> {
    const { redis } = this.options
    if (!redis) return this.store.bump(tags)
    try {
      // Tried whenever the connection is up, even with the circuit open: another instance may already be
      // serving from Redis again, and a write is worth one command timeout.
      if (redis.available()) await redis.run(() => this.store.bump(tags))
      else if (redis.client.status === 'ready') await this.store.bump(tags)
      else throw new Error('redis is not connected')
    } catch (err) {
      // The write stands; the cache is not trusted again until the recovery bumped the epoch.
      this.options.metrics.errors.inc({ cache: 'invalidate' })
      this.options.log.warn(
        { err: (err as Error).message, tags },
        'cache invalidation missed; the cache is bypassed until redis recovers'
      )
      redis.breaker.open()
    }
  }

  /**
   * Without the shared versions there is no telling whether another instance wrote since a load began, so
   * no load is shared: each lookup reads for itself.
   */
  private async direct(loader: Loader): Promise<string> {
    return loader(await this.fillContext())
  }

  private fillContext(): Promise<ReadContext> {
    return this.options.fillContext?.() ?? Promise.resolve({ forcePrimary: true })
  }

  private flight(key: string, loader: Loader): Promise<string> {
    let flight = this.flights.get(key)
    if (!flight) {
      // Fills must never hold data older than the last write (see fillContext).
      flight = this.fillContext()
        .then(loader)
        .finally(() => this.flights.delete(key))
      this.flights.set(key, flight)
    }
    return flight
  }

  private hitsOf(cache: string): CounterSeries<'cache'> {
    let series = this.hitSeries.get(cache)
    if (!series) this.hitSeries.set(cache, (series = this.options.metrics.hits.series({ cache })))
    return series
  }

  private guard<T>(fn: () => Promise<T>): Promise<T> {
    return this.options.redis ? this.options.redis.run(fn) : fn()
  }

  private localEntry(key: string): LocalEntry | undefined {
    const entry = this.local.get(key)
    if (entry && entry.expiresAt <= Date.now()) {
      this.local.delete(key)
      return undefined
    }
    return entry
  }

  private remember(key: string, versions: string, value: string, options: GetOptions): LocalEntry | undefined {
    if (this.local.max === 0) return undefined
    const entry: LocalEntry = {
      versions,
      value,
      expiresAt: Date.now() + (options.ttl ?? this.options.defaultTtl) * 1000
    }
    this.local.set(key, entry)
    return entry
  }
}
