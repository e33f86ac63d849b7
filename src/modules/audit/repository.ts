import { Conditions, type KeysetOrder, keysetQuery } from '../../db/keyset.js'
import type { Queryable } from '../../db/pool.js'
import type { CursorKey } from '../../lib/cursor.js'
import type { AuditAction, EntityType } from '../../writes/audit-chain.js'
import { AUDIT_COLUMNS, type AuditRow, type ChainLink, rowToContent } from '../../writes/audit-log.js'
import type { AuditEntry } from './schemas.js'

/** The API shape of an entry; `link` is undefined while the entry waits for the sealer. */
export const rowToAuditEntry = (row: AuditRow, link: ChainLink | undefined): AuditEntry => ({
  ...rowToContent(row),
  position: link?.position ?? null,
  prevHash: link?.prev_hash.toString('hex') ?? null,
  hash: link?.hash.toString('hex') ?? null
})

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
  return keysetQuery(`SELECT ${AUDIT_COLUMNS} FROM audit_log`, where, NEWEST, after, limit)
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
