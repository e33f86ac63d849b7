import type { Database } from '../../db/database.js'
import { toPage } from '../../db/keyset.js'
import { invalidField } from '../../errors.js'
import type { CursorCodec } from '../../lib/cursor.js'
import { chainLinks } from '../../writes/audit-log.js'
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
  const links = await chainLinks(
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
