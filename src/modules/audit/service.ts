import type pg from 'pg'
import type { Database } from '../../db/database.js'
import { toPage } from '../../db/keyset.js'
import { invalidField } from '../../errors.js'
import type { CursorCodec } from '../../lib/cursor.js'
import { pruneKeys } from '../idempotency/repository.js'
import * as repo from './repository.js'
import type { AuditEntry, ListAuditLogsQuery } from './schemas.js'

export interface AuditDeps {
  db: Database
  cursors: CursorCodec
}

const CURSOR_SCOPE = 'audit-logs:newest'

export async function listAuditLogs(
  { db, cursors }: AuditDeps,
  query: ListAuditLogsQuery
): Promise<{ items: AuditEntry[]; nextCursor: string | null }> {
  // Ids are only unique per entity type, and the entity index is led by the type.
  if (query.entityId !== undefined && query.entityType === undefined)
    throw invalidField('entityType', 'is required with entityId')
  if (query.from !== undefined && query.to !== undefined && Date.parse(query.from) > Date.parse(query.to)) {
    throw invalidField('from', 'must not be after to')
  }
  const after = query.cursor === undefined ? undefined : cursors.decode(CURSOR_SCOPE, query.cursor)
  const reader = db.reader()
  const rows = await repo.listEntries(reader, query, after, query.limit)
  const links = await repo.chainLinks(
    reader,
    rows.map((r) => r.id)
  )
  return toPage(
    rows,
    query.limit,
    (row) => repo.rowToAuditEntry(row, links.get(row.id)),
    (row) => cursors.encode(CURSOR_SCOPE, repo.auditCursorKey(row))
  )
}

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
        n = await repo.deleteExpiredBatch(client, opts.retentionDays, opts.batchSize)
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
