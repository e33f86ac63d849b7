import type { Queryable } from '../../db/pool.js'
import type { Actor } from '../../writes/audit-chain.js'
import type { ChangeEventOut } from './schemas.js'

interface EventRow {
  position: number
  occurred_at: Date
  type: string
  entity_type: string
  entity_id: number
  data: Record<string, unknown> | null
  changed_fields: string[]
  request_id: string | null
  actor: Actor
}

export const rowToEvent = (row: EventRow): ChangeEventOut => ({
  id: row.position,
  type: row.type,
  occurredAt: row.occurred_at.toISOString(),
  entity: { type: row.entity_type, id: row.entity_id },
  data: row.data,
  changedFields: row.changed_fields,
  requestId: row.request_id,
  actor: row.actor
})

export interface TypeFilter {
  types: string[]
  /** Entity types whose every event matches (`product.*`). */
  entities: string[]
}

/** Events after `after` in feed order, optionally only of some types. */
export async function eventsAfter(
  q: Queryable,
  after: number,
  filter: TypeFilter | null,
  limit: number
): Promise<ChangeEventOut[]> {
  const { rows } = await q.query<EventRow>(
    `SELECT position, occurred_at, type, entity_type, entity_id, data, changed_fields, request_id, actor
       FROM events
      WHERE position > $1 AND ($2::text[] IS NULL OR type = ANY ($2) OR entity_type = ANY ($3))
      ORDER BY position LIMIT $4`,
    [after, filter?.types ?? null, filter?.entities ?? [], limit]
  )
  return rows.map(rowToEvent)
}

/** Positions up to this one are gone (retention) or precede the feed. */
export async function prunedThrough(q: Queryable): Promise<number> {
  const { rows } = await q.query<{ pruned_through: number }>('SELECT pruned_through FROM events_horizon')
  return rows[0]?.pruned_through ?? 0
}
