import type pg from 'pg'
import type { Database } from '../../db/database.js'
import { toPage } from '../../db/keyset.js'
import type { Queryable } from '../../db/pool.js'
import { invalidField } from '../../errors.js'
import type { CursorCodec } from '../../lib/cursor.js'
import { pruneKeys } from '../idempotency/repository.js'
import { entryHash, GENESIS_HASH } from './chain.js'
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
  const rows = await repo.listEntries(db.reader(), query, after, query.limit)
  return toPage(rows, query.limit, repo.rowToAuditEntry, (row) =>
    cursors.encode(CURSOR_SCOPE, repo.auditCursorKey(row))
  )
}

export type VerifyResult =
  | { ok: true; checked: number; firstId: number | null; lastId: number | null }
  | { ok: false; checked: number; entryId: number; problem: 'altered' | 'deleted' | 'inserted'; message: string }

/**
 * Walks the chain from the oldest kept entry (retention removes a prefix, so that entry's link to its
 * predecessor is taken on trust) to the chain head, and reports the first entry that was altered, deleted
 * or inserted out of order.
 */
export async function verifyChain(q: Queryable, batchSize = 2000): Promise<VerifyResult> {
  let checked = 0
  let firstId: number | null = null
  let prev: { id: number; hash: Buffer } | undefined
  let beforePrev: { id: number; hash: Buffer } | undefined
  for (;;) {
    const rows = await repo.chainSegment(q, prev?.id ?? 0, batchSize)
    for (const row of rows) {
      if (prev && row.id !== prev.id + 1) {
        return {
          ok: false,
          checked,
          entryId: prev.id + 1,
          problem: 'deleted',
          message: `entries ${prev.id + 1}..${row.id - 1} are missing: deleted (entry ${row.id} follows entry ${prev.id})`
        }
      }
      if (prev && !row.prev_hash.equals(prev.hash)) {
        if (beforePrev && row.prev_hash.equals(beforePrev.hash)) {
          return {
            ok: false,
            checked,
            entryId: prev.id,
            problem: 'inserted',
            message: `entry ${prev.id} was inserted out of order: entry ${row.id} links to entry ${beforePrev.id}`
          }
        }
        return {
          ok: false,
          checked,
          entryId: row.id,
          problem: 'inserted',
          message: `entry ${row.id} does not link to entry ${prev.id}: an entry was inserted out of order or the chain was reordered`
        }
      }
      if (!entryHash(row.prev_hash, repo.rowToContent(row)).equals(row.hash)) {
        return {
          ok: false,
          checked,
          entryId: row.id,
          problem: 'altered',
          message: `entry ${row.id} was altered: its content does not match its hash`
        }
      }
      if (!prev && row.id === 1 && !row.prev_hash.equals(GENESIS_HASH)) {
        return {
          ok: false,
          checked,
          entryId: 1,
          problem: 'altered',
          message: 'entry 1 does not start from the genesis hash'
        }
      }
      firstId ??= row.id
      beforePrev = prev
      prev = { id: row.id, hash: row.hash }
      checked += 1
    }
    if (rows.length < batchSize) break
  }
  const head = await repo.chainHead(q)
  if (prev && prev.id > head.lastId) {
    return {
      ok: false,
      checked,
      entryId: head.lastId + 1,
      problem: 'inserted',
      message: `entries after ${head.lastId} were inserted behind the API's back: the chain head is entry ${head.lastId}`
    }
  }
  // An empty log with a head past 0 is what retention leaves after a quiet year: nothing to check.
  if (prev && head.lastId > prev.id) {
    return {
      ok: false,
      checked,
      entryId: prev.id + 1,
      problem: 'deleted',
      message: `entries ${prev.id + 1}..${head.lastId} are missing: deleted from the end of the chain`
    }
  }
  if (prev && !prev.hash.equals(head.lastHash)) {
    return {
      ok: false,
      checked,
      entryId: prev.id,
      problem: 'altered',
      message: `entry ${prev.id} does not match the chain head`
    }
  }
  return { ok: true, checked, firstId, lastId: prev?.id ?? null }
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
