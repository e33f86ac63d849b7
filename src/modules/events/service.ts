import type { Queryable } from '../../db/pool.js'
import { AppError } from '../../errors.js'
import * as repo from './repository.js'
import type { ChangeEventOut, ListEventsQuery } from './schemas.js'

export interface FeedDeps {
  /** The primary: positions are assigned there, and a replica may show commits in another order. */
  db: Queryable
  /** Resolves when new events may exist (or after `ms`); false when the caller should stop waiting. */
  changed(ms: number, signal?: AbortSignal): Promise<boolean>
}

// A long poll re-reads at least this often, even if a notification was lost.
const REPOLL_MS = 1000

export function parseTypes(types: string | undefined): repo.TypeFilter | null {
  if (types === undefined) return null
  const list = [...new Set(types.split(','))]
  return {
    types: list.filter((t) => !t.endsWith('.*')),
    entities: list.filter((t) => t.endsWith('.*')).map((t) => t.slice(0, -2))
  }
}

/**
 * The events after the cursor, oldest first; with `wait`, holds the request until one arrives or the wait ends.
 * A cursor older than the retention horizon answers 410 naming the oldest position still available.
 */
export async function followEvents(
  deps: FeedDeps,
  query: ListEventsQuery,
  signal?: AbortSignal
): Promise<{ items: ChangeEventOut[]; nextCursor: number }> {
  const filter = parseTypes(query.types)
  const deadline = Date.now() + query.wait * 1000
  const after = query.after ?? (await repo.prunedThrough(deps.db))
  for (;;) {
    const items = await repo.eventsAfter(deps.db, after, filter, query.limit)
    // Read after the events: retention moves the horizon with its delete, so a page read before a removal is whole.
    if (query.after !== undefined) {
      const horizon = await repo.prunedThrough(deps.db)
      if (after < horizon) {
        throw new AppError(
          'CURSOR_EXPIRED',
          `events up to position ${horizon} are no longer kept (EVENT_RETENTION_DAYS); the oldest available follow after=${horizon}`,
          undefined,
          undefined,
          { oldestAvailableAfter: horizon }
        )
      }
    }
    const left = deadline - Date.now()
    if (items.length || left <= 0) return { items, nextCursor: items.at(-1)?.id ?? after }
    if (!(await deps.changed(Math.min(left, REPOLL_MS), signal))) return { items, nextCursor: after }
  }
}
