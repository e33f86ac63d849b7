import { arrayLiteral } from '../db/inline.js'
import { type Queryable, prepared } from '../db/pool.js'
import { inBatches, whileLocked } from '../db/maintenance.js'
import type { Actor, AuditAction } from './audit-chain.js'
import type { AuditRow } from './audit-log.js'

/** Woken on every instance (LISTEN) when a seal pass has added events; the payload is the last position. */
export const EVENTS_CHANNEL = 'catalog_events'

/** Entity types whose changes are not catalog events (an API key's changes stay in the audit trail only). */
const WITHOUT_EVENTS = new Set(['api_key'])

/** A change event as the feed and webhooks carry it. */
export interface ChangeEvent {
  /** The feed position (the audit chain position of its entry): increasing in commit order. */
  id: number
  type: string
  occurredAt: string
  entity: { type: string; id: number }
  /** The new representation; the old one for deletes. */
  data: Record<string, unknown> | null
  changedFields: string[]
  requestId: string | null
  actor: Actor
}

const PAST = { create: 'created', update: 'updated', delete: 'deleted' } as const satisfies Record<AuditAction, string>

/**
 * The event type of an audit entry, derived from its entity type and action, so a new entity type becomes events
 * without changes here: `variant.updated`, and `<entity>.stock_changed` when stock is among the changed fields,
 * `category.moved` when a category's parent changed.
 */
export function eventType(entityType: string, action: AuditAction, changedFields: readonly string[]): string {
  if (action === 'update') {
    if (changedFields.includes('stock')) return `${entityType}.stock_changed`
    if (entityType === 'category' && changedFields.includes('parentId')) return 'category.moved'
  }
  return `${entityType}.${PAST[action]}`
}

/** The event type of a sealed entry, or null for entity types without events. */
export function eventTypeOf(row: AuditRow): string | null {
  if (WITHOUT_EVENTS.has(row.entity_type)) return null
  return eventType(row.entity_type, row.action, row.changed_fields)
}

/** An event to record: its feed position (the entry's chain position), its entry and its type. */
export interface SealedEvent {
  position: number
  entryId: number
  type: string
}

/**
 * Called by the sealer inside its seal transaction: stores the events of the entries it just chained, queues a
 * delivery for every subscription that wants each one, and notifies every instance once the transaction commits.
 * So an event, its deliveries and its position appear together, exactly when the seal commits.
 *
 * Only each event's position, entry and type are sent: the rest is copied from the entry in SQL, its values as they
 * are stored (json, migration 016), so no event's data is written out here or read again by PostgreSQL. The
 * delivery's payload has the ChangeEvent shape, in its order, with the timestamp as toISOString writes it.
 */
export async function recordEvents(tx: Queryable, sealed: SealedEvent[]): Promise<void> {
  if (!sealed.length) return
  await tx.query(
    prepared(`WITH sealed AS (
       SELECT * FROM unnest($1::bigint[], $2::integer[], $3::text[]) AS s (position, entry_id, type)
     ), stored AS (
       INSERT INTO events (position, entry_id, occurred_at, type, entity_type, entity_id, data, changed_fields,
                           request_id, actor)
       SELECT s.position, a.id, a.occurred_at, s.type, a.entity_type, a.entity_id,
              CASE WHEN a.action = 'delete' THEN a.old_values ELSE a.new_values END, a.changed_fields, a.request_id,
              jsonb_build_object('type', a.actor_type, 'id', a.actor_id, 'name', a.actor_name, 'role', a.actor_role)
         FROM sealed s JOIN audit_log a ON a.id = s.entry_id
       RETURNING position, occurred_at, type, entity_type, entity_id, data, changed_fields, request_id, actor
     )
     INSERT INTO webhook_deliveries (webhook_id, event_position, event_type, entity_key, event)
     SELECT w.id, s.position, s.type, s.entity_type || ':' || s.entity_id,
            json_build_object('id', s.position, 'type', s.type,
              'occurredAt', to_char(s.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
              'entity', json_build_object('type', s.entity_type, 'id', s.entity_id), 'data', s.data,
              'changedFields', to_json(s.changed_fields), 'requestId', s.request_id, 'actor', s.actor)
       FROM stored s
       JOIN webhooks w ON w.status <> 'disabled'
        AND ('*' = ANY (w.event_types) OR s.type = ANY (w.event_types) OR s.entity_type || '.*' = ANY (w.event_types))`),
    [
      arrayLiteral(sealed.map((s) => s.position)),
      arrayLiteral(sealed.map((s) => s.entryId)),
      arrayLiteral(sealed.map((s) => s.type))
    ]
  )
  await tx.query('SELECT pg_notify($1, $2)', [EVENTS_CHANNEL, String(sealed.at(-1)?.position)])
}

// Any constant shared by every instance: one event retention run at a time across the fleet.
const EVENT_RETENTION_LOCK_KEY = 7_261_006

/**
 * Removes up to `batch` of the oldest events, only the feed's prefix older than the cutoff, and moves the horizon
 * (a cursor before it answers 410) in the same statement. Old rows only: writers and the sealer never wait.
 */
export async function deleteExpiredEvents(q: Queryable, retentionDays: number, batch: number): Promise<number> {
  const { rows } = await q.query<{ n: number }>(
    `WITH oldest AS (
       SELECT position, occurred_at FROM events ORDER BY position LIMIT $2
     ), keep_from AS (
       SELECT min(position) AS position FROM oldest WHERE occurred_at >= now() - make_interval(days => $1)
     ), gone AS (
       DELETE FROM events
        WHERE position IN (SELECT position FROM oldest
                            WHERE position < coalesce((SELECT position FROM keep_from), 9223372036854775807))
       RETURNING position
     ), horizon AS (
       UPDATE events_horizon SET pruned_through = greatest(pruned_through, (SELECT max(position) FROM gone))
        WHERE EXISTS (SELECT 1 FROM gone)
     )
     SELECT count(*)::int AS n FROM gone`,
    [retentionDays, batch]
  )
  return rows[0]?.n ?? 0
}

/**
 * Removes expired events, and finished webhook deliveries as old, batch by batch on the instance that holds the
 * lock; the number of events removed, or null when another instance holds the lock.
 */
export async function runEventRetention(
  client: Queryable,
  retentionDays: number,
  batch: number
): Promise<number | null> {
  const removed = await whileLocked(client, EVENT_RETENTION_LOCK_KEY, async () => {
    const events = await inBatches(batch, () => deleteExpiredEvents(client, retentionDays, batch))
    // Finished webhook deliveries (with their attempts) go with the events; pending ones stay until they finish.
    await inBatches(batch, async () => {
      const { rowCount } = await client.query(
        `DELETE FROM webhook_deliveries WHERE id IN (
           SELECT id FROM webhook_deliveries
            WHERE status <> 'pending' AND created_at < now() - make_interval(days => $1) LIMIT $2)`,
        [retentionDays, batch]
      )
      return rowCount ?? 0
    })
    return events
  })
  return removed ?? null
}
