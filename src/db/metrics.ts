import type pg from 'pg'
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { PoolObserver } from './observed-pool.js'

export type RoutingDecision = 'replica' | 'primary' | 'fallback'

/** What the database layer reports; the db plugin backs it with prom-client, scripts and unit tests with nothing. */
export interface DbMetrics {
  /** Where pool `name` reports its checkout times and every query's duration (by operation and table). */
  observer(name: string): PoolObserver
  /** Reports the sizes of pool `name`. */
  watch(pool: pg.Pool, name: string): void
  routed(decision: RoutingDecision, reason: string): void
  replicaState(name: string, state: { up: boolean; lagMs: number | undefined }): void
}

const unobserved: PoolObserver = { acquired: () => {}, queried: () => {} }

export const noDbMetrics: DbMetrics = {
  observer: () => unobserved,
  watch: () => {},
  routed: () => {},
  replicaState: () => {}
}

const OPERATIONS = new Set([
  'select',
  'insert',
  'update',
  'delete',
  'with',
  'begin',
  'commit',
  'rollback',
  'set',
  'show',
  'lock'
])
const IDENT = '"?([a-z_][a-z0-9_]*)"?(?:\\s*\\.\\s*"?([a-z_][a-z0-9_]*)"?)?\\b'
// INSERT INTO t (cols) has a parenthesis after the table; after FROM/JOIN one means a function (unnest(…)).
const TABLE = new RegExp(`\\binto\\s+${IDENT}|\\b(?:from|update|join|table)\\s+(?:only\\s+)?${IDENT}(?!\\s*\\()`, 'i')
const MAX_TABLES = 40
const LEADING_COMMENTS = /^(\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)+/
const OPENING = /^(?:begin|select\s+[a-z_]+\([^;()]*\))\s*;\s*/i
const MODIFYING_WITH =
  /^with\s+(?:recursive\s+)?[a-z_]+\s+as\s+(?:(?:not\s+)?materialized\s+)?\(\s*(insert|update|delete)\b/i

/**
 * Operation and table of a statement from its first keyword and the first table it names: a light parse,
 * for metric labels only (routing never looks at SQL). Labels stay bounded: unknown keywords are "other",
 * and after MAX_TABLES distinct tables any new one is "other".
 */
export function createQueryClassifier() {
  const tables = new Set<string>()
  return (text: string): { operation: string; table: string } => {
    let body = text.replace(LEADING_COMMENTS, '')
    // A transaction's opening (BEGIN, then checks that name no table) shares a round trip with its first statement
    // (db/pool.ts): the label is that statement's.
    for (let opening = OPENING.exec(body); opening && opening[0].length < body.length; opening = OPENING.exec(body))
      body = body.slice(opening[0].length).replace(LEADING_COMMENTS, '')
    let keyword = /^[a-z]+/i.exec(body)?.[0]?.toLowerCase() ?? ''
    // A data-modifying WITH is labelled by what it modifies first (WITH p AS (INSERT INTO products …) → insert).
    if (keyword === 'with') keyword = MODIFYING_WITH.exec(body)?.[1]?.toLowerCase() ?? keyword
    const operation = OPERATIONS.has(keyword) ? keyword : 'other'
    const match = TABLE.exec(body)
    let table = match ? (match[2] ?? match[1] ?? match[4] ?? match[3] ?? '').toLowerCase() : 'none'
    if (table !== 'none' && !tables.has(table)) {
      if (tables.size >= MAX_TABLES) table = 'other'
      else tables.add(table)
    }
    return { operation, table }
  }
}

export function createDbMetrics(registry: Registry): DbMetrics {
  const pools = new Map<string, pg.Pool>()
  const registers = [registry]
  new Gauge({
    name: 'db_pool_clients',
    help: 'Clients of each database pool: total, idle, and callers waiting for one',
    labelNames: ['pool', 'state'],
    registers,
    collect() {
      this.reset()
      for (const [name, pool] of pools) {
        this.set({ pool: name, state: 'total' }, pool.totalCount)
        this.set({ pool: name, state: 'idle' }, pool.idleCount)
        this.set({ pool: name, state: 'waiting' }, pool.waitingCount)
      }
    }
  })
  new Gauge({
    name: 'db_pool_max_clients',
    help: 'Size limit of each database pool (its max option)',
    labelNames: ['pool'],
    registers,
    collect() {
      for (const [name, pool] of pools) this.set({ pool: name }, pool.options.max ?? 10)
    }
  })
  const acquire = new Histogram({
    name: 'db_pool_acquire_seconds',
    help: 'Time to get a client from the pool (including connecting), by pool and outcome',
    labelNames: ['pool', 'outcome'],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers
  })
  const queries = new Histogram({
    name: 'db_query_duration_seconds',
    help: 'Query duration by pool, operation, table and outcome (its _count is the query count)',
    labelNames: ['pool', 'operation', 'table', 'outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers
  })
  const routing = new Counter({
    name: 'db_read_routing_total',
    help: 'Where catalog reads were sent: replica, primary, or fallback (a replica failed and the primary answered), with the reason',
    labelNames: ['decision', 'reason'],
    registers
  })
  const lag = new Gauge({
    name: 'db_replica_lag_seconds',
    help: 'Replay lag of each replica as last polled',
    labelNames: ['replica'],
    registers
  })
  const up = new Gauge({
    name: 'db_replica_up',
    help: '1 while a replica takes reads (answers and its breaker is closed)',
    labelNames: ['replica'],
    registers
  })
  const classify = createQueryClassifier()

  return {
    observer(pool) {
      return {
        acquired(seconds, failed) {
          acquire.observe({ pool, outcome: failed ? 'error' : 'ok' }, seconds)
        },
        queried(text, seconds, failed) {
          const { operation, table } = classify(text)
          queries.observe({ pool, operation, table, outcome: failed ? 'error' : 'ok' }, seconds)
        }
      }
    },
    watch(pool, name) {
      pools.set(name, pool)
    },
    routed(decision, reason) {
      routing.inc({ decision, reason })
    },
    replicaState(name, state) {
      up.set({ replica: name }, state.up ? 1 : 0)
      if (state.lagMs !== undefined) lag.set({ replica: name }, state.lagMs / 1000)
    }
  }
}
