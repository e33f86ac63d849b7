import type pg from 'pg'
import { inBatches, whileLocked } from '../db/maintenance.js'
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
    const result = await whileLocked(client, RETENTION_LOCK_KEY, async () => ({
      ran: true,
      removed: await inBatches(opts.batchSize, () => deleteExpiredBatch(client, opts.retentionDays, opts.batchSize)),
      keysPruned: await inBatches(opts.batchSize, () => pruneKeys(client, opts.idempotencyTtlHours, opts.batchSize))
    }))
    return result ?? { ran: false, removed: 0, keysPruned: 0 }
  } finally {
    client.release()
  }
}
