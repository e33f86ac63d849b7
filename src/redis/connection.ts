import { Cluster, Redis, type RedisOptions } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.js'
import { type BreakerState, CircuitBreaker } from './breaker.js'
import { RedisTurnBatch } from './turn-batch.js'

export type RedisClient = Redis | Cluster

export interface RedisSettings {
  url?: string
  /** host:port seeds of a cluster (ElastiCache cluster mode enabled); set → ioredis Cluster. */
  clusterNodes?: string
  commandTimeoutMs: number
  connectTimeoutMs: number
  breakerFailures: number
  breakerWindowMs: number
  breakerProbeMs: number
}

/** The settings of REDIS_* in the configuration (the server's and the CLI's). */
export const redisSettings = (config: Config): RedisSettings => ({
  url: config.REDIS_URL,
  clusterNodes: config.REDIS_CLUSTER_NODES,
  commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
  connectTimeoutMs: config.REDIS_CONNECT_TIMEOUT_MS,
  breakerFailures: config.REDIS_BREAKER_FAILURES,
  breakerWindowMs: config.REDIS_BREAKER_WINDOW_MS,
  breakerProbeMs: config.REDIS_BREAKER_PROBE_MS
})

export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError'
  constructor() {
    super('Redis is unavailable (not connected or circuit open)')
  }
}

/**
 * One Redis (or Redis Cluster) client that never makes a request wait long: commands fail at once while
 * disconnected (the offline queue is on only until the first `ready`), each command is bounded by
 * `commandTimeoutMs`, and a circuit breaker stops sending while Redis keeps failing. Recovery always goes
 * through the breaker's background probe, which runs the `onRecovery` listeners (e.g. the cache's epoch bump
 * for invalidations missed during the outage) before commands flow again.
 */
export class RedisConnection {
  readonly client: RedisClient
  readonly breaker: CircuitBreaker
  /** The operations of one event-loop turn, sent together (see RedisTurnBatch). */
  readonly batch: RedisTurnBatch
  private recoveryListeners: (() => Promise<void>)[] = []
  private everReady = false
  private closing = false
  /** The last connection or command error, for the start-up summary and diagnostics. */
  lastError: string | undefined

  constructor(
    settings: RedisSettings,
    private readonly log: FastifyBaseLogger
  ) {
    this.client = createClient(settings)
    this.batch = new RedisTurnBatch(this.client)
    this.breaker = new CircuitBreaker(
      {
        failureThreshold: settings.breakerFailures,
        windowMs: settings.breakerWindowMs,
        probeIntervalMs: settings.breakerProbeMs
      },
      () => this.probe(),
      (state) => this.changed(state)
    )
    this.client.on('error', (err: Error) => {
      this.lastError = err.message
      // ioredis reconnects by itself; an error event without a listener would crash the process.
      if (!this.closing) this.log.debug({ err: err.message }, 'redis error')
    })
    this.client.on('ready', () => {
      if (!this.everReady) {
        this.everReady = true
        // From now on a command sent while disconnected fails at once instead of waiting in a queue.
        this.client.options.enableOfflineQueue = false
      } else if (this.breaker.isOpen) this.breaker.probeSoon()
    })
    this.client.on('close', () => {
      if (this.everReady && !this.closing) this.breaker.open()
    })
  }

  /** Commands may be sent: connected, breaker closed. */
  available(): boolean {
    return this.client.status === 'ready' && !this.breaker.isOpen
  }

  /** Runs `fn` against Redis, failing at once while unavailable; failures feed the breaker. */
  async run<T>(fn: (client: RedisClient) => Promise<T>): Promise<T> {
    if (!this.available()) throw new RedisUnavailableError()
    try {
      const result = await fn(this.client)
      this.breaker.success()
      return result
    } catch (err) {
      this.breaker.failure()
      throw err
    }
  }

  /** Runs before the breaker closes again; a failing listener keeps it open. */
  onRecovery(listener: () => Promise<void>): void {
    this.recoveryListeners.push(listener)
  }

  /** Waits for the first connection, at most `ms`; false when Redis did not answer in time. */
  waitReady(ms: number): Promise<boolean> {
    if (this.client.status === 'ready') return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.client.off('ready', ready)
        resolve(false)
      }, ms)
      const ready = () => {
        clearTimeout(timer)
        resolve(true)
      }
      this.client.once('ready', ready)
    })
  }

  async ping(): Promise<void> {
    if (this.client.status !== 'ready') throw new RedisUnavailableError()
    await this.client.ping()
  }

  private async probe(): Promise<void> {
    try {
      await this.ping()
    } catch (err) {
      // A connection that still says ready but does not answer (silently dropped packets) never recovers
      // by itself: start a fresh one.
      if (this.client.status === 'ready' && !this.closing) this.client.disconnect(true)
      throw err
    }
    for (const listener of this.recoveryListeners) await listener()
  }

  private changed(state: BreakerState): void {
    if (state === 'open') this.log.warn('redis circuit open: requests use their fallbacks; probing in the background')
    else this.log.warn('redis circuit closed: redis is used again')
  }

  async close(): Promise<void> {
    this.closing = true
    this.breaker.stop()
    if (this.client.status === 'ready') await this.client.quit().catch(() => this.client.disconnect())
    else this.client.disconnect()
  }
}

// Scripts go out when called: the version lookups of a whole event-loop turn are already one script call
// (RedisTurnBatch), and auto-pipelining would hold it back for another turn.
const SENT_AT_ONCE = ['evalsha', 'eval']

function createClient(settings: RedisSettings): RedisClient {
  const url = settings.url ? new URL(settings.url) : undefined
  const options: RedisOptions = {
    // Until the first ready a command waits for the connection; afterwards enableOfflineQueue is switched off.
    enableOfflineQueue: true,
    maxRetriesPerRequest: 1,
    commandTimeout: settings.commandTimeoutMs,
    connectTimeout: settings.connectTimeoutMs,
    retryStrategy: (times) => Math.min(50 * times, 1000),
    enableAutoPipelining: true,
    autoPipeliningIgnoredCommands: SENT_AT_ONCE,
    lazyConnect: false,
    ...(url?.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url?.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url?.protocol === 'rediss:' ? { tls: {} } : {})
  }
  if (!settings.clusterNodes) return new Redis(settings.url as string, options)
  const nodes = settings.clusterNodes.split(',').map((node) => {
    const [host, port] = node.trim().split(':')
    return { host: host as string, port: Number(port ?? 6379) }
  })
  return new Cluster(nodes, {
    enableOfflineQueue: true,
    enableAutoPipelining: true,
    autoPipeliningIgnoredCommands: SENT_AT_ONCE,
    clusterRetryStrategy: (times) => Math.min(100 * times, 1000),
    slotsRefreshTimeout: settings.connectTimeoutMs,
    redisOptions: options,
    ...(url?.protocol === 'rediss:' ? { dnsLookup: (address, callback) => callback(null, address) } : {})
  })
}
