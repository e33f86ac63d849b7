import type pg from 'pg'
import { arrayLiteral } from '../db/inline.js'
import { prepared } from '../db/pool.js'
import { entryHash } from './audit-chain.js'
import { AUDIT_COLUMNS, type AuditRow, rowToContent } from './audit-log.js'
import { eventTypeOf, recordEvents, type SealedEvent } from './events.js'

// Any constant shared by every instance: one sealer at a time across the fleet.
export const SEAL_LOCK_KEY = 7_261_005

/** Entries chained per seal transaction: a few milliseconds of work, so the lock is never held for long. */
export const SEAL_BATCH_SIZE = 1000

export interface SealResult {
  /** False when another instance held the seal lock (it seals the same queue). */
  ran: boolean
  sealed: number
  /** Seconds from each sealed entry's write to its sealing. */
  lagSeconds: number[]
  /** Queued entry ids whose entry no longer exists (removed before it could be sealed). */
  missing: number[]
  /** Change events recorded with the sealed entries (src/writes/events.ts). */
  events: number
  /** True when the pass ended with a vacuum of the queue (createQueueVacuum). */
  vacuumed?: boolean
  /** Why that vacuum failed, when it did (the pass's seals stand). */
  vacuumFailed?: string
}

// An entry's columns as the seal pass reads them: changed_fields as JSON, which JSON.parse reads for a fraction of
// the time and garbage of the driver's parser for text[] (the pass reads thousands of entries a second under writes).
const ENTRY_COLUMNS = AUDIT_COLUMNS.split(', ')
  .map((c) => (c === 'changed_fields' ? 'to_json(a.changed_fields) AS changed_fields' : `a.${c}`))
  .join(', ')

// The links of a pass, from the position before its first ($1), its entry ids in chain order ($2) and its hashes ($3:
// the head's hash, then each link's, 32 bytes each, as one binary parameter instead of two arrays of hex text).
const SEAL_LINKS = prepared(`WITH links AS (
  INSERT INTO audit_chain (position, entry_id, prev_hash, hash)
  SELECT $1::bigint + e.n, e.id, substring($3::bytea FROM 32 * (e.n - 1)::integer + 1 FOR 32),
         substring($3::bytea FROM 32 * e.n::integer + 1 FOR 32)
    FROM unnest($2::integer[]) WITH ORDINALITY AS e(id, n)
)
UPDATE audit_chain_head SET last_position = $1::bigint + cardinality($2::integer[]),
                            last_hash = substring($3::bytea FROM length($3::bytea) - 31)`)

// The queue's oldest entries are taken through an array: as `IN (subquery)` the planner hashed them and read the whole
// queue, dead entries and all (1.9–2.3 ms for 170 of 879 live entries after 5,000 removed; 0.7 ms through the array's
// index lookups). A pass's statements are prepared on the seal connection, the batch size a literal so the plan is the
// one for that size: planning the take at every pass cost about 10 µs of PostgreSQL's CPU per entry taken.
//
// A prepared statement that returns rows fails on its connection for as long as it lives ("cached plan must not
// change result type") once a migration changes a column it returns, and instances keep sealing through a deploy.
// So the statements carry a generation: a pass that meets that failure rolls back, and the pass runs again once with
// the next generation's texts, which the connection prepares anew.
let generation = 0
const headSql = () => prepared(`SELECT last_position, last_hash FROM audit_chain_head FOR UPDATE -- ${generation}`)

function takeSql(batchSize: number) {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`not a batch size: ${batchSize}`)
  return prepared(`WITH taken AS (
  DELETE FROM audit_pending
   WHERE entry_id = ANY (ARRAY(SELECT entry_id FROM audit_pending ORDER BY entry_id LIMIT ${batchSize}))
  RETURNING entry_id
)
SELECT t.entry_id AS pending_id, ${ENTRY_COLUMNS},
       extract(epoch FROM clock_timestamp() - a.occurred_at)::float8 AS lag_seconds
  FROM taken t LEFT JOIN audit_log a ON a.id = t.entry_id
 ORDER BY t.entry_id -- ${generation}`)
}

/** PostgreSQL's refusal to run a prepared statement whose result columns a migration changed. */
const isStalePlan = (err: unknown) =>
  (err as { code?: unknown } | null)?.code === '0A000' &&
  /cached plan must not change result type/.test((err as { message?: string }).message ?? '')

type PendingRow = { pending_id: number; lag_seconds: number } & { [K in keyof AuditRow]: AuditRow[K] | null }
const isPresent = (row: PendingRow): row is PendingRow & AuditRow => row.id !== null

/**
 * One seal transaction: takes up to `batchSize` committed entries off audit_pending, in id order, and links
 * each to the one before, continuing from the chain head. Entries still in an open transaction are invisible
 * here and are taken by a later pass, so the chain's order is its own (position), not the id order.
 * The transaction-scoped advisory lock keeps a second sealer out; the head's row lock would serialise one
 * that ignored it. Writers never touch either.
 */
async function sealBatch(client: pg.ClientBase, batchSize: number, events: boolean): Promise<SealResult> {
  const none: SealResult = { ran: false, sealed: 0, lagSeconds: [], missing: [], events: 0 }
  await client.query('BEGIN')
  try {
    const { rows: locked } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [
      SEAL_LOCK_KEY
    ])
    if (!locked[0]?.ok) {
      await client.query('ROLLBACK')
      return none
    }
    const { rows: heads } = await client.query<{ last_position: number; last_hash: Buffer }>(headSql())
    const head = heads[0]
    if (!head) throw new Error('audit_chain_head has no row (migration 003 not applied?)')
    if (head.last_hash.length !== 32) throw new Error(`audit_chain_head holds a hash of ${head.last_hash.length} bytes`)
    const { rows } = await client.query<PendingRow>(takeSql(batchSize))
    const result: SealResult = { ran: true, sealed: 0, lagSeconds: [], missing: [], events: 0 }
    const sealedEvents: SealedEvent[] = []
    const ids: number[] = []
    // The links' hashes one after another, the head's first: each link's prev_hash is the 32 bytes before its hash.
    const hashes = Buffer.allocUnsafe(32 * (rows.length + 1))
    head.last_hash.copy(hashes, 0)
    let position = head.last_position
    let prev = head.last_hash
    for (const row of rows) {
      if (!isPresent(row)) {
        result.missing.push(row.pending_id)
        continue
      }
      const hash = entryHash(prev, rowToContent(row))
      position += 1
      ids.push(row.id)
      hash.copy(hashes, 32 * ids.length)
      result.lagSeconds.push(Math.max(0, row.lag_seconds))
      prev = hash
      const type = events ? eventTypeOf(row) : null
      if (type) sealedEvents.push({ position, entryId: row.id, type })
    }
    if (ids.length) {
      await client.query(SEAL_LINKS, [head.last_position, arrayLiteral(ids), hashes.subarray(0, 32 * (ids.length + 1))])
    }
    // The events take the entries' positions in this same transaction: the feed's order is the chain's.
    await recordEvents(client, sealedEvents)
    result.events = sealedEvents.length
    await client.query('COMMIT')
    result.sealed = ids.length
    return result
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  }
}

/**
 * Seals everything committed so far with `client` (not in a transaction), batch by batch, unless another
 * session holds the seal lock. The CLI calls it after its writes, as no instance may be running to seal them.
 */
export async function sealWith(client: pg.ClientBase, batchSize = SEAL_BATCH_SIZE, events = true): Promise<SealResult> {
  const total: SealResult = { ran: false, sealed: 0, lagSeconds: [], missing: [], events: 0 }
  let renewed = false
  for (;;) {
    let pass: SealResult
    try {
      pass = await sealBatch(client, batchSize, events)
    } catch (err) {
      if (renewed || !isStalePlan(err)) throw err
      renewed = true
      generation += 1
      continue
    }
    if (!pass.ran) return total
    total.ran = true
    total.sealed += pass.sealed
    total.lagSeconds.push(...pass.lagSeconds)
    total.missing.push(...pass.missing)
    total.events += pass.events
    if (pass.sealed + pass.missing.length < batchSize) return total
  }
}

/** Entries an instance seals between two vacuums of the queue (createQueueVacuum). */
export const QUEUE_VACUUM_EVERY = 500

export type QueueVacuum = ReturnType<typeof createQueueVacuum>

/**
 * audit_pending is a queue: every entry goes in with its write and out with its seal. A pass finds the oldest entries
 * through the table's index and steps over every one removed since the table was last vacuumed. Autovacuum comes
 * round a minute apart at best (and never where it is off), so at a few thousand writes a second each pass walked
 * over tens of thousands of dead entries, and the walk grew until the next vacuum (docs/architecture.md). The
 * instance that seals therefore vacuums the queue itself after every `every` entries it sealed, on its own
 * connection between two passes: VACUUM's lock keeps out no writer or reader, SKIP_LOCKED skips the run while
 * autovacuum holds the table, TRUNCATE OFF keeps the emptied pages (giving them back takes an exclusive lock the
 * writers would queue behind, and the next entries fill them anyway), and a role that does not own the table (which only autovacuum may then vacuum)
 * turns it off at the first pass.
 */
export function createQueueVacuum(every = QUEUE_VACUUM_EVERY) {
  let since = 0
  let allowed: boolean | undefined
  return {
    /** After a pass with `client` (not in a transaction) that sealed `sealed` entries; true when it vacuumed. */
    async after(client: pg.ClientBase, sealed: number): Promise<boolean> {
      since += sealed
      if (since < every) return false
      allowed ??= await ownsQueue(client)
      if (!allowed) return false
      since = 0
      await client.query('VACUUM (SKIP_LOCKED, INDEX_CLEANUP ON, TRUNCATE OFF) audit_pending')
      return true
    }
  }
}

async function ownsQueue(client: pg.ClientBase): Promise<boolean> {
  const { rows } = await client.query<{ owns: boolean }>(
    "SELECT pg_has_role(relowner, 'USAGE') AS owns FROM pg_class WHERE oid = 'audit_pending'::regclass"
  )
  return rows[0]?.owns === true
}

/**
 * Seals everything committed so far on a client of `pool`, unless another instance holds the seal lock; with
 * `vacuum`, then vacuums the queue when it is due.
 */
export async function sealPending(
  pool: pg.Pool,
  batchSize = SEAL_BATCH_SIZE,
  events = true,
  vacuum?: QueueVacuum
): Promise<SealResult> {
  const client = await pool.connect()
  let broken: Error | undefined
  try {
    const result = await sealWith(client, batchSize, events)
    if (vacuum && result.sealed > 0) {
      try {
        result.vacuumed = await vacuum.after(client, result.sealed)
      } catch (err) {
        // The entries are sealed either way: the failure is told, and the next due vacuum tries again.
        broken = err as Error
        result.vacuumFailed = broken.message ?? String(err)
      }
    }
    return result
  } catch (err) {
    broken = err as Error
    throw err
  } finally {
    client.release(broken)
  }
}

export interface SealerOptions {
  /** One seal pass (sealPending on a pool, or on the seal thread: seal-thread.ts). */
  seal: () => Promise<SealResult>
  /** A pass at least this often (0 = this instance never seals on its own). */
  intervalMs: number
  /** After a write, a pass this soon (coalescing the writes of that moment into one pass). */
  nudgeMs: number
  onPass: (result: SealResult) => void
  onError: (err: unknown) => void
}

/**
 * Runs seal passes on a timer and shortly after writes, never two at once in this process. Every instance runs
 * one; the advisory lock lets one of them work at a time, and whichever runs seals every instance's entries,
 * including those of an instance that crashed between its commit and the next pass.
 */
export function createSealer(options: SealerOptions) {
  let running: Promise<void> | undefined
  let again = false
  let soon: NodeJS.Timeout | undefined
  let timer: NodeJS.Timeout | undefined
  let closed = false

  const pass = (): Promise<void> => {
    if (running) {
      again = true
      return running
    }
    running = options
      .seal()
      .then(
        (result) => options.onPass(result),
        (err: unknown) => options.onError(err)
      )
      .finally(() => {
        running = undefined
        if (again && !closed) {
          again = false
          nudge()
        }
      })
    return running
  }

  function nudge(): void {
    if (closed || options.intervalMs === 0 || soon) return
    soon = setTimeout(() => {
      soon = undefined
      void pass()
    }, options.nudgeMs)
    soon.unref()
  }

  return {
    /** Runs a pass that sees every entry committed before this call, and resolves when it is done. */
    async sealNow(): Promise<void> {
      while (running) await running
      await pass()
    },
    nudge,
    start(): void {
      if (options.intervalMs === 0) return
      timer = setInterval(() => void pass(), options.intervalMs)
      timer.unref()
    },
    async stop(): Promise<void> {
      closed = true
      clearInterval(timer)
      clearTimeout(soon)
      await running
    }
  }
}
