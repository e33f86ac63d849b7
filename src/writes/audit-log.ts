import { escapeLiteral } from '../db/inline.js'
import type { Queryable } from '../db/pool.js'
import type { AuditAction, AuditContent, EntityType } from './audit-chain.js'

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
}

/** An entry's place in the hash chain, once sealed (audit_chain). */
export interface ChainLink {
  position: number
  entry_id: number
  prev_hash: Buffer
  hash: Buffer
}

export const AUDIT_COLUMNS =
  'id, occurred_at, action, entity_type, entity_id, actor_type, actor_id, actor_name, actor_role, ip, user_agent, request_id, ' +
  'old_values, new_values, changed_fields'

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

/** What a mutation tells the log; the id and time come from the database. */
export type NewEntry = Omit<AuditContent, 'id' | 'occurredAt'>

const APPEND = (values: string) => `WITH entry AS (
  INSERT INTO audit_log (${AUDIT_COLUMNS}) VALUES (DEFAULT, clock_timestamp(), ${values}) RETURNING id
)
INSERT INTO audit_pending (entry_id) SELECT id FROM entry`

const entryValues = (entry: NewEntry): (string | number | string[] | null)[] => [
  entry.action,
  entry.entityType,
  entry.entityId,
  entry.actor.type,
  entry.actor.id,
  entry.actor.name,
  entry.actor.role,
  entry.ip,
  entry.userAgent,
  entry.requestId,
  entry.oldValues === null ? null : JSON.stringify(entry.oldValues),
  entry.newValues === null ? null : JSON.stringify(entry.newValues),
  entry.changedFields
]
const CASTS = [
  'text',
  'text',
  'integer',
  'text',
  'integer',
  'text',
  'text',
  'text',
  'text',
  'text',
  'json',
  'json',
  'text[]'
]

/**
 * Appends one entry with the caller's transaction client, in one statement: the entry and its place in the
 * sealer's queue (audit_pending) commit with the change or not at all. No shared row is touched, so concurrent
 * writers never wait for each other here; the sealer chains the entry after it commits (sealer.ts).
 */
export async function appendEntry(tx: Queryable, entry: NewEntry): Promise<void> {
  await tx.query(APPEND(CASTS.map((cast, i) => `$${i + 1}::${cast}`).join(', ')), entryValues(entry))
}

function literal(value: string | number | string[] | null, cast: string): string {
  if (value === null) return `NULL::${cast}`
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError(`not an integer: ${value}`)
    return String(value)
  }
  if (Array.isArray(value)) return `ARRAY[${value.map((v) => escapeLiteral(v)).join(', ')}]::${cast}`
  return `${escapeLiteral(value)}::${cast}`
}

/**
 * The same append as SQL without parameters (values as escaped literals), for beforeCommit(): sent in the
 * COMMIT's round trip, it costs the write no round trip of its own.
 */
export function appendEntrySql(entry: NewEntry): string {
  const values = entryValues(entry)
  return APPEND(CASTS.map((cast, i) => literal(values[i] ?? null, cast)).join(', '))
}

// A batch's entries in three parameters: the short fields as one JSON array, and the old and the new values as
// lines of JSON text ("null" for none; JSON.stringify never writes a raw line break). The values are read as json,
// checked and stored as sent: as jsonb inside a JSON array, PostgreSQL took a dozen times longer to read them
// (migration 013). ROWS FROM pairs the three row by row, in order. `before` is other common table expressions of the
// same statement ("name AS (...), "), written first.
const APPEND_MANY = (fields: string, olds: string, news: string, before = '') => `WITH ${before}entry AS (
  INSERT INTO audit_log (${AUDIT_COLUMNS})
  SELECT nextval('audit_log_id_seq'), clock_timestamp(), e."action", e."entityType",
         e."entityId", e."actorType", e."actorId", e."actorName", e."actorRole", e.ip, e."userAgent",
         e."requestId", nullif(e.old, 'null')::json, nullif(e.new, 'null')::json,
         ARRAY(SELECT jsonb_array_elements_text(e."changedFields"))
    FROM ROWS FROM (
           jsonb_to_recordset(${fields}::jsonb) AS ("action" text, "entityType" text, "entityId" integer,
             "actorType" text, "actorId" integer, "actorName" text, "actorRole" text, ip text, "userAgent" text,
             "requestId" text, "changedFields" jsonb),
           unnest(string_to_array(${olds}, E'\\n')),
           unnest(string_to_array(${news}, E'\\n'))
         ) AS e("action", "entityType", "entityId", "actorType", "actorId", "actorName", "actorRole", ip,
                "userAgent", "requestId", "changedFields", old, new)
  RETURNING id
)
INSERT INTO audit_pending (entry_id) SELECT id FROM entry`

const fieldsJson = (entries: NewEntry[]) =>
  JSON.stringify(
    entries.map((e) => ({
      action: e.action,
      entityType: e.entityType,
      entityId: e.entityId,
      actorType: e.actor.type,
      actorId: e.actor.id,
      actorName: e.actor.name,
      actorRole: e.actor.role,
      ip: e.ip,
      userAgent: e.userAgent,
      requestId: e.requestId,
      changedFields: e.changedFields
    }))
  )
const valueLines = (values: (Record<string, unknown> | null)[]) => values.map((v) => JSON.stringify(v)).join('\n')

const entriesParams = (entries: NewEntry[]) => [
  fieldsJson(entries),
  valueLines(entries.map((e) => e.oldValues)),
  valueLines(entries.map((e) => e.newValues))
]

/**
 * Appends many entries in one statement (a bulk import's batch): the same rows and queue entries as appendEntry,
 * written in order, with the caller's transaction.
 */
export async function appendEntries(tx: Queryable, entries: NewEntry[]): Promise<void> {
  if (!entries.length) return
  await tx.query(APPEND_MANY('$1', '$2', '$3'), entriesParams(entries))
}

/**
 * The append of appendEntries as the last part of a statement whose other data-modifying common table expressions
 * (`before`, each "name AS (...), ", using parameters $1 to $`used`) run with it: one round trip for the whole write.
 * Returns the statement and the entries' three parameters, to follow the caller's.
 */
export function appendEntriesAfter(
  before: string,
  used: number,
  entries: NewEntry[]
): { sql: string; params: string[] } {
  if (!entries.length) throw new RangeError('no entries to append')
  const [a, b, c] = [used + 1, used + 2, used + 3]
  return { sql: APPEND_MANY(`$${a}`, `$${b}`, `$${c}`, before), params: entriesParams(entries) }
}

/** The same multi-row append as SQL without parameters, for beforeCommit() (a coalesced batch of writes). */
export function appendEntriesSql(entries: NewEntry[]): string {
  return APPEND_MANY(
    escapeLiteral(fieldsJson(entries)),
    escapeLiteral(valueLines(entries.map((e) => e.oldValues))),
    escapeLiteral(valueLines(entries.map((e) => e.newValues)))
  )
}

/** The chain links of `ids` (entries not sealed yet have none). */
export async function chainLinks(q: Queryable, ids: number[]): Promise<Map<number, ChainLink>> {
  if (!ids.length) return new Map()
  const { rows } = await q.query<ChainLink>(
    'SELECT position, entry_id, prev_hash, hash FROM audit_chain WHERE entry_id = ANY($1::integer[])',
    [ids]
  )
  return new Map(rows.map((r) => [r.entry_id, r]))
}

/** A sealed link with its entry (null columns when the entry is gone), for the verifier. */
export type SealedRow = ChainLink & { [K in keyof AuditRow]: AuditRow[K] | null }

/** Links after `afterPosition` in chain order, each with its entry. */
export async function chainSegment(q: Queryable, afterPosition: number, limit: number): Promise<SealedRow[]> {
  const { rows } = await q.query<SealedRow>(
    `SELECT c.position, c.entry_id, c.prev_hash, c.hash, a.* FROM audit_chain c
       LEFT JOIN audit_log a ON a.id = c.entry_id
      WHERE c.position > $1 ORDER BY c.position LIMIT $2`,
    [afterPosition, limit]
  )
  return rows
}

export async function chainHead(q: Queryable): Promise<{ lastPosition: number; lastHash: Buffer }> {
  const { rows } = await q.query<{ last_position: number; last_hash: Buffer }>(
    'SELECT last_position, last_hash FROM audit_chain_head'
  )
  const row = rows[0]
  if (!row) throw new Error('audit_chain_head has no row')
  return { lastPosition: row.last_position, lastHash: row.last_hash }
}

export interface Unsealed {
  /** Entries no link seals. */
  total: number
  /** Of those, entries written more than the bound ago. */
  overdue: number
  /** The oldest overdue ones, at most the limit asked for. */
  oldest: { id: number; ageMs: number }[]
}

/** Entries that no link seals: how many, how many are older than `boundMs`, and the oldest of those. */
export async function unsealedEntries(q: Queryable, boundMs: number, limit: number): Promise<Unsealed> {
  const { rows } = await q.query<{ total: number; overdue: number; oldest: { id: number; ageMs: number }[] | null }>(
    `WITH unsealed AS (
       SELECT a.id, a.occurred_at FROM audit_log a
        WHERE NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.entry_id = a.id)
     ), overdue AS (
       SELECT id, occurred_at FROM unsealed WHERE occurred_at < clock_timestamp() - make_interval(secs => $1 / 1000.0)
     )
     SELECT (SELECT count(*) FROM unsealed) AS total, (SELECT count(*) FROM overdue) AS overdue,
            (SELECT json_agg(json_build_object('id', id, 'ageMs',
                      round(extract(epoch FROM clock_timestamp() - occurred_at) * 1000)))
               FROM (SELECT * FROM overdue ORDER BY occurred_at, id LIMIT $2) o) AS oldest`,
    [boundMs, limit]
  )
  const row = rows[0]
  return { total: row?.total ?? 0, overdue: row?.overdue ?? 0, oldest: row?.oldest ?? [] }
}

/**
 * Removes up to `batch` of the oldest sealed entries with their links, and only the chain's prefix of entries
 * older than the cutoff, so what stays is still one unbroken chain. Unsealed entries are never removed. One
 * short statement per batch: the rows it locks are old ones no writer touches, and appends never wait for it.
 */
export async function deleteExpiredBatch(q: Queryable, retentionDays: number, batch: number): Promise<number> {
  const { rowCount } = await q.query(
    `WITH oldest AS (
       SELECT c.position, c.entry_id, a.occurred_at
         FROM audit_chain c LEFT JOIN audit_log a ON a.id = c.entry_id
        ORDER BY c.position LIMIT $2
     ), keep_from AS (
       SELECT min(position) AS position FROM oldest WHERE occurred_at >= now() - make_interval(days => $1)
     ), links AS (
       DELETE FROM audit_chain
        WHERE position IN (SELECT position FROM oldest
                            WHERE position < coalesce((SELECT position FROM keep_from), 9223372036854775807))
       RETURNING entry_id
     )
     DELETE FROM audit_log WHERE id IN (SELECT entry_id FROM links)`,
    [retentionDays, batch]
  )
  return rowCount ?? 0
}
