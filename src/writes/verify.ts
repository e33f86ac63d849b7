import pg from 'pg'
import type { Queryable } from '../db/pool.js'
import { entryHash, GENESIS_HASH } from './audit-chain.js'
import * as repo from './audit-log.js'

export type VerifyProblem = 'altered' | 'deleted' | 'inserted' | 'unsealed'

export type VerifyResult =
  | {
      ok: true
      /** Sealed entries checked. */
      checked: number
      firstPosition: number | null
      lastPosition: number | null
      /** Entries written within the bound and not sealed yet (covered by the chain once sealed). */
      unsealed: number
    }
  | {
      ok: false
      checked: number
      problem: VerifyProblem
      /** Where the chain breaks; null for unsealed entries. */
      position: number | null
      /** The entry concerned, when it is known (a deleted link takes its entry id with it). */
      entryId: number | null
      message: string
    }

export interface VerifyOptions {
  /** Entries unsealed longer than this are reported (AUDIT_SEAL_MAX_DELAY_MS). */
  maxDelayMs: number
  batchSize?: number
}

type Link = { position: number; hash: Buffer; entryId: number }
type Broken = Extract<VerifyResult, { ok: false }>

const broken = (
  checked: number,
  problem: VerifyProblem,
  position: number | null,
  entryId: number | null,
  message: string
): Broken => ({ ok: false, checked, problem, position, entryId, message })

/** The first thing wrong with `row` given the link before it, or undefined. */
function checkLink(row: repo.SealedRow, prev: Link | undefined, beforePrev: Link | undefined, checked: number) {
  const at = `position ${row.position} (entry ${row.entry_id})`
  if (prev && row.position !== prev.position + 1) {
    return broken(
      checked,
      'deleted',
      prev.position + 1,
      null,
      `positions ${prev.position + 1}..${row.position - 1} are missing: deleted (${at} follows position ${prev.position})`
    )
  }
  if (row.id === null) return broken(checked, 'deleted', row.position, row.entry_id, `entry at ${at} was deleted`)
  if (prev && !row.prev_hash.equals(prev.hash)) {
    if (beforePrev && row.prev_hash.equals(beforePrev.hash)) {
      return broken(
        checked,
        'inserted',
        prev.position,
        prev.entryId,
        `position ${prev.position} (entry ${prev.entryId}) was inserted out of order: ${at} links to position ${beforePrev.position}`
      )
    }
    return broken(
      checked,
      'inserted',
      row.position,
      row.entry_id,
      `${at} does not link to position ${prev.position}: an entry was inserted out of order or the chain was reordered`
    )
  }
  if (!entryHash(row.prev_hash, repo.rowToContent(row as repo.AuditRow)).equals(row.hash)) {
    return broken(
      checked,
      'altered',
      row.position,
      row.entry_id,
      `${at} was altered: its content does not match its hash`
    )
  }
  if (!prev && row.position === 1 && !row.prev_hash.equals(GENESIS_HASH))
    return broken(checked, 'altered', 1, row.entry_id, 'position 1 does not start from the genesis hash')
  return undefined
}

/**
 * Walks the sealed chain in position order from the oldest kept link (retention removes a prefix, so that
 * link's predecessor is taken on trust) to the chain head, and reports the first entry altered, deleted or
 * inserted after it was sealed; then entries that have waited longer than `maxDelayMs` for their seal.
 * Reads one snapshot, so a seal committing meanwhile cannot look like a broken chain.
 */
async function verifySnapshot(q: Queryable, { maxDelayMs, batchSize = 2000 }: VerifyOptions): Promise<VerifyResult> {
  let checked = 0
  let firstPosition: number | null = null
  let prev: Link | undefined
  let beforePrev: Link | undefined
  for (;;) {
    const rows = await repo.chainSegment(q, prev?.position ?? 0, batchSize)
    for (const row of rows) {
      const problem = checkLink(row, prev, beforePrev, checked)
      if (problem) return problem
      firstPosition ??= row.position
      beforePrev = prev
      prev = { position: row.position, hash: row.hash, entryId: row.entry_id }
      checked += 1
    }
    if (rows.length < batchSize) break
  }
  const head = await repo.chainHead(q)
  if (prev && prev.position > head.lastPosition) {
    return broken(
      checked,
      'inserted',
      head.lastPosition + 1,
      null,
      `links after position ${head.lastPosition} were inserted behind the sealer's back: the chain head is position ${head.lastPosition}`
    )
  }
  // An empty chain with a head past 0 is what retention leaves after a quiet year: nothing to check.
  if (prev && head.lastPosition > prev.position) {
    return broken(
      checked,
      'deleted',
      prev.position + 1,
      null,
      `positions ${prev.position + 1}..${head.lastPosition} are missing: deleted from the end of the chain`
    )
  }
  if (prev && !prev.hash.equals(head.lastHash))
    return broken(
      checked,
      'altered',
      prev.position,
      prev.entryId,
      `position ${prev.position} does not match the chain head`
    )

  const unsealed = await repo.unsealedEntries(q, maxDelayMs, 5)
  const oldest = unsealed.oldest[0]
  if (oldest) {
    const list = unsealed.oldest.map((e) => `${e.id} (${(e.ageMs / 1000).toFixed(1)} s)`).join(', ')
    return broken(
      checked,
      'unsealed',
      null,
      oldest.id,
      `${unsealed.overdue} entries written more than ${maxDelayMs} ms ago are not sealed (oldest: ${list}): ` +
        'no instance is sealing (AUDIT_SEAL_INTERVAL_MS=0 everywhere, or none running), or entries were inserted behind its back'
    )
  }
  return { ok: true, checked, firstPosition, lastPosition: prev?.position ?? null, unsealed: unsealed.total }
}

/** Verifies the chain in one read-only snapshot, on a client of its own when given a pool. */
export async function verifyChain(db: pg.Pool | pg.ClientBase, options: VerifyOptions): Promise<VerifyResult> {
  const client = db instanceof pg.Pool ? await db.connect() : db
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
    try {
      return await verifySnapshot(client, options)
    } finally {
      await client.query('ROLLBACK')
    }
  } finally {
    if (db instanceof pg.Pool) (client as pg.PoolClient).release()
  }
}
