import type pg from 'pg'
import { databaseFault } from './errors.js'
import { formatLsn, maxLsn, parseLsn } from './lsn.js'
import type { DbMetrics } from './metrics.js'
import type { ReadContext } from './read-context.js'

export interface Replica {
  /** `replica:<host>`: the pool label in metrics and the readiness check name. */
  name: string
  pool: pg.Pool
  /** Takes reads: it answered the last poll and its breaker is closed. */
  up: boolean
  replayLsn?: bigint
  lagMs?: number
  trippedAt: number
  consecutiveFailures: number
  lastError?: string
}

export interface RoutingChoice {
  replica?: Replica
  reason: 'no_replica' | 'force_primary' | 'replica_down' | 'lagging' | 'token' | 'round_robin'
}

interface Logger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

export interface ReplicaSetOptions {
  maxLagMs: number
  /** How often replay positions are refreshed (reads use the cached value, never an extra query). */
  pollIntervalMs?: number
  /** A tripped replica takes reads again only after this long and a successful poll. */
  cooldownMs?: number
  /** Query timeouts in a row that trip the breaker (a refused or dropped connection trips it at once). */
  tripAfter?: number
  log: Logger
  metrics: DbMetrics
}

interface PrimarySample {
  lsn: bigint
  at: number
}

const SAMPLE_WINDOW_MS = 5 * 60_000

const isTimeout = (err: unknown) => {
  const e = err as { code?: string; message?: string }
  return e?.code === '57014' || e?.message === 'Query read timeout'
}

/**
 * Whether a failed replica read may be retried on the primary: the replica was unreachable, slow, shutting
 * down, or cancelled the read for a recovery conflict (40001). Never a read-only refusal (25006): that means
 * a write reached a reader, a bug to surface, not to hide by re-running it on the primary.
 */
export function isReplicaFailure(err: unknown): boolean {
  const code = (err as { code?: string })?.code
  if (code === '25006') return false
  return code === '40001' || code === '57P04' || databaseFault(err) !== undefined
}

/**
 * The replicas behind `db.reader()`: which ones may take a read right now (up, not lagging, replayed far
 * enough for the caller's consistency token), round robin among those, and the background poll that keeps
 * each one's replay position and lag current.
 */
export class ReplicaSet {
  readonly replicas: Replica[]
  private next = 0
  private samples: PrimarySample[] = []
  private timer: NodeJS.Timeout | undefined
  private polling: Promise<void> | undefined
  private refreshing: Promise<void> | undefined
  private readonly pollIntervalMs: number
  private readonly cooldownMs: number
  private readonly tripAfter: number

  constructor(
    private readonly primary: pg.Pool,
    replicas: { name: string; pool: pg.Pool }[],
    private readonly options: ReplicaSetOptions
  ) {
    this.replicas = replicas.map((r) => ({ ...r, up: false, trippedAt: 0, consecutiveFailures: 0 }))
    this.pollIntervalMs = options.pollIntervalMs ?? 500
    this.cooldownMs = options.cooldownMs ?? 1000
    this.tripAfter = options.tripAfter ?? 3
  }

  /** Starts the background poll; resolves after the first one, so replicas take reads from the start. */
  async start(): Promise<void> {
    if (!this.replicas.length) return
    await this.poll()
    this.timer = setInterval(() => void this.poll(), this.pollIntervalMs)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    await this.polling
  }

  choose(context: ReadContext, sessionLsn?: string): RoutingChoice {
    if (!this.replicas.length) return { reason: 'no_replica' }
    if (context.forcePrimary) return { reason: 'force_primary' }
    const up = this.replicas.filter((r) => r.up)
    if (!up.length) return { reason: 'replica_down' }
    const fresh = up.filter((r) => r.lagMs !== undefined && r.lagMs <= this.options.maxLagMs)
    if (!fresh.length) return { reason: 'lagging' }
    const needed = maxLsn(parseLsn(context.minLsn), parseLsn(sessionLsn))
    const eligible =
      needed === undefined ? fresh : fresh.filter((r) => r.replayLsn !== undefined && r.replayLsn >= needed)
    if (!eligible.length) return { reason: 'token' }
    const replica = eligible[this.next++ % eligible.length]
    return { replica, reason: 'round_robin' }
  }

  succeeded(replica: Replica): void {
    replica.consecutiveFailures = 0
  }

  /** A read on `replica` failed: a connection fault trips its breaker at once, timeouts after `tripAfter` in a row. */
  failed(replica: Replica, err: unknown): void {
    replica.consecutiveFailures++
    if (!isTimeout(err) || replica.consecutiveFailures >= this.tripAfter) this.trip(replica, err)
  }

  private trip(replica: Replica, err: unknown): void {
    replica.trippedAt = Date.now()
    replica.lastError = err instanceof Error ? err.message : String(err)
    if (replica.up)
      this.options.log.warn({ replica: replica.name, err }, 'replica taken out of reads; the primary serves them')
    replica.up = false
    this.options.metrics.replicaState(replica.name, { up: false, lagMs: replica.lagMs })
  }

  /** Refreshes the primary's WAL position and every replica's replay position (never two polls at once). */
  poll(): Promise<void> {
    this.polling ??= this.pollOnce().finally(() => {
      this.polling = undefined
    })
    return this.polling
  }

  /**
   * Reads every replica's replay position now, without asking the primary (never two at once): for a read that
   * cannot wait for the next poll, such as a cache fill while the primary is down.
   */
  refreshReplicas(): Promise<void> {
    this.refreshing ??= Promise.all(this.replicas.map((r) => this.pollReplica(r)))
      .then(() => undefined)
      .finally(() => {
        this.refreshing = undefined
      })
    return this.refreshing
  }

  /**
   * Makes sure the replicas' known positions are recent enough to judge `minLsn`: when none that takes reads
   * was seen at or past it, their positions are read again (shared with any refresh already running). Under
   * steady writes the last poll (≤ 500 ms old) is always behind the primary's current position, so without
   * this a fill that asks for that position would never go to a replica.
   */
  async refreshFor(minLsn: string): Promise<void> {
    const needed = parseLsn(minLsn)
    if (needed === undefined) return
    const usable = this.replicas.filter((r) => r.up && r.lagMs !== undefined && r.lagMs <= this.options.maxLagMs)
    if (!usable.length || usable.some((r) => r.replayLsn !== undefined && r.replayLsn >= needed)) return
    await this.refreshReplicas()
  }

  // Primary and replicas are polled side by side: a primary that hangs (pool exhausted, outage) must not keep
  // a recovered replica out of reads, nor stop replicas from serving while it is down.
  private async pollOnce(): Promise<void> {
    await Promise.all([this.pollPrimary(), ...this.replicas.map((r) => this.pollReplica(r))])
  }

  private async pollPrimary(): Promise<void> {
    try {
      const { rows } = await this.primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')
      const lsn = parseLsn(rows[0]?.lsn)
      const now = Date.now()
      if (lsn !== undefined && (this.samples.at(-1)?.lsn ?? -1n) < lsn) this.samples.push({ lsn, at: now })
      while (this.samples.length > 1 && (this.samples[0]?.at ?? now) < now - SAMPLE_WINDOW_MS) this.samples.shift()
    } catch {
      // The primary being down does not stop replicas from serving: lag is judged on the positions seen so far.
    }
  }

  private async pollReplica(replica: Replica): Promise<void> {
    try {
      const { rows } = await replica.pool.query<{ lsn: string | null }>(
        'SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text AS lsn'
      )
      const replayLsn = parseLsn(rows[0]?.lsn)
      replica.replayLsn = replayLsn
      replica.lagMs = replayLsn === undefined ? undefined : this.lagOf(replayLsn, Date.now())
      if (!replica.up && Date.now() - replica.trippedAt >= this.cooldownMs) {
        replica.up = true
        replica.consecutiveFailures = 0
        this.options.log.info({ replica: replica.name, lagMs: replica.lagMs }, 'replica takes reads')
      }
    } catch (err) {
      if (replica.trippedAt === 0)
        this.options.log.warn({ replica: replica.name, err }, 'replica does not answer; the primary serves its reads')
      this.trip(replica, err)
      return
    }
    this.options.metrics.replicaState(replica.name, { up: replica.up, lagMs: replica.lagMs })
  }

  /**
   * How long ago the primary was first seen past `replayLsn`: the age of the oldest write the replica has not
   * replayed yet, measured on our clock only (no comparison of server clocks, no false lag on an idle primary).
   */
  lagOf(replayLsn: bigint, now: number): number {
    const missing = this.samples.find((s) => s.lsn > replayLsn)
    return missing ? now - missing.at : 0
  }

  /** The newest WAL position a poll read from the primary (at most one poll interval old), as text. */
  lastPrimaryLsn(): string | undefined {
    const lsn = this.samples.at(-1)?.lsn
    return lsn === undefined ? undefined : formatLsn(lsn)
  }

  /** For tests: record a primary position as seen at `at`. */
  observePrimary(lsn: bigint, at: number): void {
    this.samples.push({ lsn, at })
  }
}
