import { Conditions, type KeysetOrder, keysetQuery } from '../../db/keyset.js'
import type { Queryable } from '../../db/pool.js'
import type { CursorKey } from '../../lib/cursor.js'
import { type AuditAction, type AuditContent, type EntityType, entryHash } from './chain.js'
import type { AuditEntry } from './schemas.js'

export interface AuditRow {
  id: number
  occurred_at: Date
  action: AuditAction
  entity_type: EntityType
  entity_id: number
  actor_type: 'api_key' | 'system'
  actor_id: number | null
  actor_name: string
  actor_role: string | null
  ip: string | null
  user_agent: string | null
  request_id: string | null
  old_values: Record<string, unknown> | null
  new_values: Record<string, unknown> | null
  changed_fields: string[]
  prev_hash: Buffer
  hash: Buffer
}

const COLUMNS =
  'id, occurred_at, action, entity_type, entity_id, actor_type, actor_id, actor_name, actor_role, ip, user_agent, request_id, ' +
  'old_values, new_values, changed_fields, prev_hash, hash'

/** The hashed content of a stored entry, exactly as it was hashed when appended. */
export const rowToContent = (row: AuditRow): AuditContent => ({
  id: row.id,
  occurredAt: row.occurred_at.toISOString(),
  action: row.action,
  entityType: row.entity_type,
  entityId: row.entity_id,
  actor: { type: row.actor_type, id: row.actor_id, name: row.actor_name, role: row.actor_role },
  ip: row.ip,
  userAgent: row.user_agent,
  requestId: row.request_id,
  oldValues: row.old_values,
  newValues: row.new_values,
  changedFields: row.changed_fields
})

export const rowToAuditEntry = (row: AuditRow): AuditEntry => ({
  ...rowToContent(row),
  prevHash: row.prev_hash.toString('hex'),
  hash: row.hash.toString('hex')
})

/** What a mutation tells the log; the rest of the entry comes from the write context and the chain. */
export type NewEntry = Omit<AuditContent, 'id' | 'occurredAt'>

/**
 * Appends one entry to the chain with the caller's transaction client. The row lock on the chain head
 * serialises appenders until they commit, so concurrent writers never fork the chain; it is taken last in
 * every write transaction (after the entity's own locks), which keeps lock order the same everywhere.
 */
export async function appendEntry(tx: Queryable, entry: NewEntry): Promise<AuditContent> {
  const { rows } = await tx.query<{ last_id: number; last_hash: Buffer; at: Date }>(
    'SELECT last_id, last_hash, clock_timestamp()::timestamptz(3) AS at FROM audit_chain_head FOR UPDATE'
  )
  const head = rows[0]
  if (!head) throw new Error('audit_chain_head has no row (migration 002 not applied?)')
  const content: AuditContent = { id: head.last_id + 1, occurredAt: head.at.toISOString(), ...entry }
  const hash = entryHash(head.last_hash, content)
  await tx.query(
    `WITH entry AS (
       INSERT INTO audit_log (${COLUMNS})
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
     )
     UPDATE audit_chain_head SET last_id = $1, last_hash = $17`,
    [
      content.id,
      content.occurredAt,
      content.action,
      content.entityType,
      content.entityId,
      content.actor.type,
      content.actor.id,
      content.actor.name,
      content.actor.role,
      content.ip,
      content.userAgent,
      content.requestId,
      content.oldValues === null ? null : JSON.stringify(content.oldValues),
      content.newValues === null ? null : JSON.stringify(content.newValues),
      content.changedFields,
      head.last_hash,
      hash
    ]
  )
  return content
}

export interface AuditFilter {
  entityType?: EntityType
  entityId?: number
  action?: AuditAction
  actorId?: number
  requestId?: string
  from?: string
  to?: string
}

const NEWEST: KeysetOrder<AuditRow> = {
  column: 'occurred_at',
  cast: 'timestamptz',
  desc: true,
  key: (r) => [r.occurred_at.toISOString(), r.id]
}

export const auditCursorKey = (row: AuditRow) => NEWEST.key(row)

/** The SQL of one page, newest first; exported so a test can EXPLAIN exactly what the API runs. */
export function listEntriesQuery(filter: AuditFilter, after: CursorKey | undefined, limit: number) {
  const where = new Conditions()
  if (filter.entityType !== undefined) where.add(`entity_type = ${where.param(filter.entityType)}`)
  if (filter.entityId !== undefined) where.add(`entity_id = ${where.param(filter.entityId)}`)
  if (filter.action !== undefined) where.add(`action = ${where.param(filter.action)}`)
  if (filter.actorId !== undefined) where.add(`actor_id = ${where.param(filter.actorId)}`)
  if (filter.requestId !== undefined) where.add(`request_id = ${where.param(filter.requestId)}`)
  if (filter.from !== undefined) where.add(`occurred_at >= ${where.param(filter.from)}::timestamptz`)
  if (filter.to !== undefined) where.add(`occurred_at < ${where.param(filter.to)}::timestamptz`)
  return keysetQuery(`SELECT ${COLUMNS} FROM audit_log`, where, NEWEST, after, limit)
}

export async function listEntries(
  q: Queryable,
  filter: AuditFilter,
  after: CursorKey | undefined,
  limit: number
): Promise<AuditRow[]> {
  const { text, values } = listEntriesQuery(filter, after, limit)
  return (await q.query<AuditRow>(text, values)).rows
}

/** Entries after `afterId` in chain order, for the verifier. */
export async function chainSegment(q: Queryable, afterId: number, limit: number): Promise<AuditRow[]> {
  const { rows } = await q.query<AuditRow>(`SELECT ${COLUMNS} FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2`, [
    afterId,
    limit
  ])
  return rows
}

export async function chainHead(q: Queryable): Promise<{ lastId: number; lastHash: Buffer }> {
  const { rows } = await q.query<{ last_id: number; last_hash: Buffer }>(
    'SELECT last_id, last_hash FROM audit_chain_head'
  )
  const row = rows[0]
  if (!row) throw new Error('audit_chain_head has no row')
  return { lastId: row.last_id, lastHash: row.last_hash }
}

/**
 * Removes up to `batch` of the oldest entries, and only the chain's prefix of entries older than the cutoff,
 * so what stays is still one unbroken chain. One short statement per batch: the rows it locks are old ones no
 * writer touches, and appends (which only insert) never wait for it.
 */
export async function deleteExpiredBatch(q: Queryable, retentionDays: number, batch: number): Promise<number> {
  const { rowCount } = await q.query(
    `WITH oldest AS (
       SELECT id, occurred_at FROM audit_log ORDER BY id LIMIT $2
     ), keep_from AS (
       SELECT min(id) AS id FROM oldest WHERE occurred_at >= now() - make_interval(days => $1)
     )
     DELETE FROM audit_log
      WHERE id IN (SELECT id FROM oldest WHERE id < coalesce((SELECT id FROM keep_from), 2147483647))`,
    [retentionDays, batch]
  )
  return rowCount ?? 0
}
