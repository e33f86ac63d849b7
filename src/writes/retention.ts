import type pg from 'pg'
import { deleteExpiredBatch } from './audit-log.js'
import { pruneKeys } from './idempotency.js'

export interface RetentionOptions {
  retentionDays: number
  batchSize: number
  idempotencyTtlHours: number
}

export interface RetentionResult {
  ran: boolean
  removed: number
  keysPruned: number
}

// Any constant shared by every instance: one retention run at a time across the fleet.
const RETENTION_LOCK_KEY = 7_261_004

/** Removes expired audit entries and idempotency keys, batch by batch, on the instance that holds the lock. */
export async function runRetention(pool: pg.Pool, opts: RetentionOptions): Promise<RetentionResult> {
  const client = await pool.connect()
  try {
    const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [RETENTION_LOCK_KEY])
    if (!rows[0]?.ok) return { ran: false, removed: 0, keysPruned: 0 }
    try {
      let removed = 0
      for (let n = opts.batchSize; n === opts.batchSize; removed += n)
        n = await deleteExpiredBatch(client, opts.retentionDays, opts.batchSize)
      let keysPruned = 0
      for (let n = opts.batchSize; n === opts.batchSize; keysPruned += n)
        n = await pruneKeys(client, opts.idempotencyTtlHours, opts.batchSize)
      return { ran: true, removed, keysPruned }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [RETENTION_LOCK_KEY])
    }
  } finally {
    client.release()
  }
}
