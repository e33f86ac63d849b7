import { AppError } from '../errors.js'
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

  /**
   * A parameter cast to `cast`; `unseen`, a subquery's output the planner cannot see. A statement whose plan is to
   * be kept (see keysetQuery's keepPlan) takes the values that meet its index columns unseen: each run is then costed
   * as the plan for any value is, and PostgreSQL keeps that plan. A plain parameter's value is estimated per run, and
   * for some values (a cursor deep into an index, one category) that estimate beats the estimate for any value's plan,
   * though both plans are the same index walk: the statement was planned on every read, which costs more than the run.
   */
  value(value: unknown, cast: string, unseen: boolean): string {
    return unseen ? `(SELECT ${this.param(value)}::${cast})` : `${this.param(value)}::${cast}`
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
const INT4_MAX = 2_147_483_647
const KEY_CHECKS: Record<string, (value: unknown) => boolean> = {
  integer: (v) => Number.isInteger(v) && Math.abs(v as number) <= INT4_MAX,
  text: (v) => typeof v === 'string' && !v.includes('\u0000'),
  // PostgreSQL has no year 0: Date.parse accepts it, the ::timestamptz cast does not.
  timestamptz: (v) =>
    typeof v === 'string' && /^(?!0000)\d{4}-\d{2}-\d{2}T[\d:.]+Z$/.test(v) && !Number.isNaN(Date.parse(v))
}

/** A cursor key must fit its order exactly: a signed but ill-shaped key would reach SQL casts otherwise. */
function assertKeyFits(order: KeysetOrder<unknown>, key: CursorKey) {
  const [value, id] = key
  if (
    key.length !== 2 ||
    !KEY_CHECKS[order.cast]?.(value) ||
    !(Number.isInteger(id) && (id as number) > 0 && (id as number) <= INT4_MAX)
  ) {
    throw new AppError('INVALID_CURSOR', 'cursor does not fit this list', [
      { field: 'cursor', message: 'does not fit this list' }
    ])
  }
}

/**
 * With `keepPlan` the page size is a literal of the statement instead of a parameter. With `LIMIT $n` the plan
 * PostgreSQL would keep for any values is costed for a tenth of the table, so a prepared page is planned again on
 * every run (for the hot pages planning costs more than running); with the literal, a page whose conditions leave the
 * plan no choice keeps one plan per page size. The caller decides which pages those are. `limit` in the result is the
 * page size's SQL as the statement has it (the literal or its parameter), for a caller that wraps the statement.
 */
export function keysetQuery<Row>(
  select: string,
  conditions: Conditions,
  order: KeysetOrder<Row>,
  after: CursorKey | undefined,
  limit: number,
  opts: { keepPlan?: boolean } = {}
): { text: string; values: unknown[]; limit: string } {
  if (after) {
    assertKeyFits(order as KeysetOrder<unknown>, after)
    const unseen = opts.keepPlan === true
    conditions.add(
      `(${order.column}, id) ${order.desc ? '<' : '>'} (${conditions.value(after[0], order.cast, unseen)}, ${conditions.value(after[1], 'integer', unseen)})`
    )
  }
  const direction = order.desc ? 'DESC' : 'ASC'
  const where = conditions.clauses.length ? ` WHERE ${conditions.clauses.join(' AND ')}` : ''
  const size = limit + 1
  if (!Number.isSafeInteger(size) || size < 2) throw new TypeError(`not a page size: ${limit}`)
  const limitSql = opts.keepPlan ? String(size) : conditions.param(size)
  return {
    text: `${select}${where} ORDER BY ${order.column} ${direction}, id ${direction} LIMIT ${limitSql}`,
    values: conditions.values,
    limit: limitSql
  }
}

/** `SET a = $2, b = $3` for the fields present in `patch`, with `$1` left for the id. */
export function setClause<T extends object>(
  patch: T,
  columns: Record<keyof T, string>
): { sets: string; values: unknown[] } {
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
