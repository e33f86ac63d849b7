import type pg from 'pg'
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

export type RoutingDecision = 'replica' | 'primary' | 'fallback'

/** What the database layer reports; the db plugin backs it with prom-client, scripts and unit tests with nothing. */
export interface DbMetrics {
  /** Pool sizes, acquire time, and every query's duration by operation and table. */
  instrument(pool: pg.Pool, name: string): void
  routed(decision: RoutingDecision, reason: string): void
  replicaState(name: string, state: { up: boolean; lagMs: number | undefined }): void
}

export const noDbMetrics: DbMetrics = { instrument: () => {}, routed: () => {}, replicaState: () => {} }

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

/**
 * Operation and table of a statement from its first keyword and the first table it names: a light parse,
 * for metric labels only (routing never looks at SQL). Labels stay bounded: unknown keywords are "other",
 * and after MAX_TABLES distinct tables any new one is "other".
 */
export function createQueryClassifier() {
  const tables = new Set<string>()
  return (text: string): { operation: string; table: string } => {
    const body = text.replace(/^(\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)+/, '')
    const keyword = /^[a-z]+/i.exec(body)?.[0]?.toLowerCase() ?? ''
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

type Callback = (err: Error | null, ...rest: unknown[]) => void

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

  function instrumentClient(client: pg.PoolClient, poolName: string) {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown
    ;(client as { query: unknown }).query = function (this: pg.PoolClient, ...args: unknown[]) {
      const first = args[0] as { text?: unknown; submit?: unknown } | string
      const text = typeof first === 'string' ? first : first?.text
      if (typeof text !== 'string' || (typeof first === 'object' && typeof first?.submit === 'function'))
        return query.apply(this, args)
      const { operation, table } = classify(text)
      const started = performance.now()
      const done = (err: unknown) =>
        queries.observe(
          { pool: poolName, operation, table, outcome: err ? 'error' : 'ok' },
          (performance.now() - started) / 1000
        )
      const last = args.at(-1)
      if (typeof last === 'function') {
        args[args.length - 1] = (err: Error | null, ...rest: unknown[]) => {
          done(err)
          ;(last as Callback)(err, ...rest)
        }
        return query.apply(this, args)
      }
      const result = query.apply(this, args) as Promise<unknown> | undefined
      result?.then?.(
        () => done(undefined),
        (err: unknown) => done(err)
      )
      return result
    }
  }

  return {
    instrument(pool, name) {
      pools.set(name, pool)
      pool.on('connect', (client) => instrumentClient(client, name))
      // pg-pool's own query() goes through this.connect, so wrapping the instance times every checkout.
      const connect = pool.connect.bind(pool) as (cb?: Callback) => Promise<pg.PoolClient> | undefined
      ;(pool as { connect: unknown }).connect = (cb?: Callback) => {
        const started = performance.now()
        const observe = (err: unknown) =>
          acquire.observe({ pool: name, outcome: err ? 'error' : 'ok' }, (performance.now() - started) / 1000)
        if (typeof cb === 'function') {
          return connect((err, ...rest) => {
            observe(err)
            cb(err, ...rest)
          })
        }
        return connect()?.then(
          (client) => {
            observe(undefined)
            return client
          },
          (err: unknown) => {
            observe(err)
            throw err
          }
        )
      }
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
