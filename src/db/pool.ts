import { readFileSync } from 'node:fs'
import pg from 'pg'
import type { Config } from '../config.js'
import { inlineParameters } from './inline.js'
import { ObservedPool, type PoolObserver } from './observed-pool.js'
import { parseTimestamptz } from './timestamps.js'

/** What repositories need of a pool or a client: one parameterised statement at a time. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string | PreparedStatement,
    values?: unknown[]
  ): Promise<pg.QueryResult<R>>
}

/**
 * A statement each connection parses once and then only binds and executes (a named prepared statement, which
 * PostgreSQL may also plan once): for the hot reads, whose planning cost more than their execution.
 */
export interface PreparedStatement {
  name: string
  text: string
}

const MAX_PREPARED = 500
const preparedStatements = new Map<string, PreparedStatement>()

/** `text` as a prepared statement; beyond MAX_PREPARED distinct texts, plain text (parsed on every run). */
export function prepared(text: string): PreparedStatement | string {
  const known = preparedStatements.get(text)
  if (known) return known
  if (preparedStatements.size >= MAX_PREPARED) return text
  const statement = { name: `catalog_${preparedStatements.size}`, text }
  preparedStatements.set(text, statement)
  return statement
}

const textOf = (statement: string | PreparedStatement) => (typeof statement === 'string' ? statement : statement.text)

export interface ConnectionTarget {
  host: string
  port: number
  user: string
  password: string
  database: string
}

// int8 (counts, sums) as JS numbers: every int8 we read fits in 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number.parseInt(v, 10))
// timestamptz in the form every column here has, without the general parser's regular expressions.
pg.types.setTypeParser(pg.types.builtins.TIMESTAMPTZ, parseTimestamptz)

export function primaryTarget(config: Config): ConnectionTarget {
  return {
    host: config.DB_HOST ?? '127.0.0.1',
    port: config.DB_PORT,
    user: config.DB_USER,
    password: config.DB_PASSWORD,
    database: config.DB_NAME
  }
}

/** TLS for every connection to the database (pools and the migration client): verified, with the CA bundle if given. */
export function sslOptions(config: Config): pg.PoolConfig['ssl'] {
  if (!config.DB_SSL) return undefined
  return config.DB_SSL_CA_FILE
    ? { rejectUnauthorized: true, ca: readFileSync(config.DB_SSL_CA_FILE, 'utf8') }
    : { rejectUnauthorized: true }
}

export interface PoolLogger {
  warn(obj: object, msg: string): void
}

/**
 * A pool with every timeout set: pg's defaults wait forever for a slot and never time out a query.
 * A client that dies while checked out emits 'error' on itself; without a listener that crashes the process.
 */
export function createPool(
  config: Config,
  target: ConnectionTarget,
  options: {
    max: number
    name: string
    log: PoolLogger
    applicationName?: string
    /** Replica pools: a short connect and query timeout, so a dead or silent replica hands its reads over fast. */
    fastFailMs?: number
    /** Times checkouts and queries (see ObservedPool). */
    observer?: PoolObserver
  }
): pg.Pool {
  const fast = options.fastFailMs || undefined
  const connectionTimeout =
    fast === undefined ? config.DB_CONNECTION_TIMEOUT : Math.min(config.DB_CONNECTION_TIMEOUT || fast, fast)
  const queryTimeout = fast === undefined ? config.DB_QUERY_TIMEOUT : Math.min(config.DB_QUERY_TIMEOUT || fast, fast)
  // The server cancels too: a read abandoned by the client would otherwise keep running on a slow replica.
  const statementTimeout =
    fast === undefined ? config.DB_STATEMENT_TIMEOUT : Math.min(config.DB_STATEMENT_TIMEOUT || fast, fast)
  const settings: pg.PoolConfig = {
    ...target,
    max: options.max,
    min: Math.min(config.DB_POOL_MIN, options.max),
    ssl: sslOptions(config),
    connectionTimeoutMillis: connectionTimeout,
    idleTimeoutMillis: config.DB_IDLE_TIMEOUT,
    maxLifetimeSeconds: config.DB_MAX_LIFETIME_SECONDS,
    query_timeout: queryTimeout || undefined,
    statement_timeout: statementTimeout || undefined,
    idle_in_transaction_session_timeout: Math.max(config.DB_STATEMENT_TIMEOUT, 60_000),
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    application_name: options.applicationName ?? 'catalog-api'
  }
  const pool = options.observer ? new ObservedPool(settings, options.observer) : new pg.Pool(settings)
  pool.on('error', (err) => options.log.warn({ err, pool: options.name }, 'idle database connection failed'))
  pool.on('connect', (client) => {
    client.on('error', (err) => options.log.warn({ err, pool: options.name }, 'database connection failed'))
  })
  return pool
}

// One round trip: the WAL position is read on the same connection right after the commit, so it covers it.
const COMMIT_WITH_LSN = 'COMMIT; SELECT pg_current_wal_lsn()::text AS lsn'

const commitTails = new WeakMap<object, string>()

/**
 * Queues statements to run in the same round trip as the COMMIT of `tx`'s transaction, before it: a write's
 * last statement then costs no round trip of its own. They are sent as one simple query, so they carry no
 * parameters (values go in as escaped literals); if one fails, COMMIT is not run and the transaction rolls back.
 */
export function beforeCommit(tx: Queryable, sql: string): void {
  commitTails.set(tx, `${commitTails.get(tx) ?? ''}${sql};\n`)
}

/** The statements queued for `tx`'s COMMIT (removed: each transaction sends them once). */
export function takeCommitTail(tx: Queryable): string {
  const tail = commitTails.get(tx) ?? ''
  commitTails.delete(tx)
  return tail
}

/**
 * A transaction's client whose BEGIN travels with its first statement: that statement goes as one simple query,
 * `BEGIN;` then the statement with its parameters inlined (inlineParameters), saving the round trip a BEGIN of
 * its own costs. A statement whose values cannot be inlined is preceded by a separate BEGIN instead.
 */
class DeferredBegin implements Queryable {
  begun = false
  /** Statements to run right after BEGIN, in the same round trip (see atBegin). */
  opening = ''

  constructor(private readonly client: pg.PoolClient) {}

  /** BEGIN and the opening statements, as the head of a simple query. */
  head(): string {
    return `BEGIN;\n${this.opening}`
  }

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    statement: string | PreparedStatement,
    values?: unknown[]
  ): Promise<pg.QueryResult<R>> {
    // After BEGIN a prepared statement goes as itself: planned once per connection, not at every run.
    if (this.begun) return this.client.query<R>(statement, values)
    const text = textOf(statement)
    this.begun = true
    const inlined = inlineParameters(text, values)
    if (inlined === undefined) {
      await this.client.query(this.head())
      return this.client.query<R>(text, values)
    }
    const results = (await this.client.query(this.head() + inlined)) as unknown as pg.QueryResult<R>[]
    return results.at(-1) as pg.QueryResult<R>
  }
}

/**
 * Runs `sql` (no parameters) at the start of `tx`'s transaction: in withTransaction's, queued to go right after
 * BEGIN in the round trip of its first statement (so it runs before anything else and costs no round trip); in
 * any other transaction, now. If it fails, the transaction fails before its first statement has run.
 */
export async function atBegin(tx: Queryable, sql: string): Promise<void> {
  if (tx instanceof DeferredBegin && !tx.begun) tx.opening += `${sql};\n`
  else await tx.query(sql)
}

/**
 * Runs `fn` in a transaction on one client of `pool`, which it must use for every query. With `onCommit`,
 * the primary's WAL position after the commit is handed to it (the consistency token of the write).
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (tx: Queryable) => Promise<T>,
  onCommit?: (lsn: string) => void
): Promise<T> {
  const client = await pool.connect()
  const tx = new DeferredBegin(client)
  let broken: Error | undefined
  try {
    const result = await fn(tx)
    const tail = takeCommitTail(tx)
    // A transaction that sent nothing yet but queued statements opens and commits in this one round trip.
    const head = tx.begun ? '' : tx.head()
    if (!tx.begun && !tail && !tx.opening) return result
    if (onCommit) {
      const results = (await client.query(head + tail + COMMIT_WITH_LSN)) as unknown as pg.QueryResult<{
        lsn: string
      }>[]
      const lsn = results.at(-1)?.rows[0]?.lsn
      if (lsn) onCommit(lsn)
    } else await client.query(`${head}${tail}COMMIT`)
    return result
  } catch (err) {
    takeCommitTail(tx)
    // A failed ROLLBACK means the connection is unusable: destroy it instead of returning it to the pool.
    await client.query('ROLLBACK').catch((rollbackErr: Error) => {
      broken = rollbackErr
    })
    throw err
  } finally {
    client.release(broken)
  }
}
