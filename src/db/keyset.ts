import type { CursorKey } from '../lib/cursor.js'

/** A keyset order: a sort column plus the id tiebreaker, one direction for both. */
export interface KeysetOrder<Row> {
  column: string
  cast: string
  desc: boolean
  key: (row: Row) => CursorKey
}

/** Collects WHERE conditions with positional parameters. */
export class Conditions {
  readonly values: unknown[] = []
  readonly clauses: string[] = []

  param(value: unknown): string {
    this.values.push(value)
    return `$${this.values.length}`
  }

  add(clause: string): this {
    this.clauses.push(clause)
    return this
  }
}

/**
 * `SELECT … WHERE … AND (col, id) > (cursor) ORDER BY col, id LIMIT n+1`: a page costs the same at any
 * depth because the index is entered at the cursor instead of counting past OFFSET rows.
 */
export function keysetQuery<Row>(
  select: string,
  conditions: Conditions,
  order: KeysetOrder<Row>,
  after: CursorKey | undefined,
  limit: number
): { text: string; values: unknown[] } {
  if (after) {
    conditions.add(
      `(${order.column}, id) ${order.desc ? '<' : '>'} (${conditions.param(after[0])}::${order.cast}, ${conditions.param(after[1])}::integer)`
    )
  }
  const direction = order.desc ? 'DESC' : 'ASC'
  const where = conditions.clauses.length ? ` WHERE ${conditions.clauses.join(' AND ')}` : ''
  return {
    text: `${select}${where} ORDER BY ${order.column} ${direction}, id ${direction} LIMIT ${conditions.param(limit + 1)}`,
    values: conditions.values
  }
}

/** `SET a = $2, b = $3` for the fields present in `patch`, with `$1` left for the id. */
export function setClause<T extends object>(patch: T, columns: Record<keyof T, string>): { sets: string; values: unknown[] } {
  const values: unknown[] = []
  const sets: string[] = []
  for (const [field, column] of Object.entries(columns) as [keyof T, string][]) {
    if (patch[field] === undefined) continue
    values.push(patch[field])
    sets.push(`${column} = $${values.length + 1}`)
  }
  return { sets: sets.join(', '), values }
}

/** Splits the `limit + 1` rows of a keyset query into the page and the cursor of the next one. */
export function toPage<Row, Item>(
  rows: Row[],
  limit: number,
  map: (row: Row) => Item,
  cursorOf: (row: Row) => string
): { items: Item[]; nextCursor: string | null } {
  const hasMore = rows.length > limit
  const page = hasMore ? rows.slice(0, limit) : rows
  const last = page.at(-1)
  return { items: page.map(map), nextCursor: hasMore && last !== undefined ? cursorOf(last) : null }
}
