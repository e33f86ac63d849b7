import { Conditions, type KeysetOrder, keysetQuery, setClause } from '../../db/keyset.js'
import type { Queryable } from '../../db/pool.js'
import type { CursorKey } from '../../lib/cursor.js'
import { type Category, type CategorySort, TREE_CHILDREN_MAX, type UpdateCategory } from './schemas.js'

export interface CategoryRow {
  id: number
  name: string
  slug: string
  description: string
  parent_id: number | null
  version: number
  created_at: Date
  updated_at: Date
}

const COLUMNS = 'id, name, slug, description, parent_id, version, created_at, updated_at'

export const rowToCategory = (row: CategoryRow): Category => ({
  id: row.id,
  name: row.name,
  slug: row.slug,
  description: row.description,
  parentId: row.parent_id,
  version: row.version,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString()
})

export async function findCategoryById(
  q: Queryable,
  id: number,
  opts: { forUpdate?: boolean } = {}
): Promise<CategoryRow | undefined> {
  const { rows } = await q.query<CategoryRow>(
    `SELECT ${COLUMNS} FROM categories WHERE id = $1${opts.forUpdate ? ' FOR UPDATE' : ''}`,
    [id]
  )
  return rows[0]
}

export async function findCategoryBySlug(q: Queryable, slug: string): Promise<CategoryRow | undefined> {
  const { rows } = await q.query<CategoryRow>(`SELECT ${COLUMNS} FROM categories WHERE slug = $1`, [slug])
  return rows[0]
}

/** The category and every category below it. */
export async function descendantIds(q: Queryable, id: number): Promise<number[]> {
  const { rows } = await q.query<{ id: number }>(
    `WITH RECURSIVE tree AS (
       SELECT id FROM categories WHERE id = $1
       UNION
       SELECT c.id FROM categories c JOIN tree t ON c.parent_id = t.id
     ) SELECT id FROM tree`,
    [id]
  )
  return rows.length ? rows.map((r) => r.id) : [id]
}

/** Ancestors from the root down to the direct parent. UNION stops on a cycle should one ever exist. */
export async function findAncestors(q: Queryable, id: number): Promise<CategoryRow[]> {
  const { rows } = await q.query<CategoryRow & { depth: number }>(
    `WITH RECURSIVE up AS (
       SELECT parent_id AS id, 1 AS depth FROM categories WHERE id = $1
       UNION
       SELECT c.parent_id, up.depth + 1 FROM categories c JOIN up ON c.id = up.id WHERE up.depth < 1000
     )
     SELECT ${COLUMNS.split(', ')
       .map((c) => `c.${c}`)
       .join(', ')}, up.depth
       FROM up JOIN categories c ON c.id = up.id ORDER BY up.depth DESC`,
    [id]
  )
  return rows
}

export async function findChildren(q: Queryable, id: number): Promise<CategoryRow[]> {
  const { rows } = await q.query<CategoryRow>(
    `SELECT ${COLUMNS} FROM categories WHERE parent_id = $1 ORDER BY name, id LIMIT ${TREE_CHILDREN_MAX}`,
    [id]
  )
  return rows
}

const SORTS: Record<CategorySort, KeysetOrder<CategoryRow>> = {
  newest: { column: 'created_at', cast: 'timestamptz', desc: true, key: (r) => [r.created_at.toISOString(), r.id] },
  name: { column: 'name', cast: 'text', desc: false, key: (r) => [r.name, r.id] }
}

export const categoryCursorKey = (sort: CategorySort, row: CategoryRow) => SORTS[sort].key(row)

export async function listCategories(
  q: Queryable,
  filter: { parentId?: number },
  sort: CategorySort,
  after: CursorKey | undefined,
  limit: number
): Promise<CategoryRow[]> {
  const where = new Conditions()
  if (filter.parentId !== undefined) where.add(`parent_id = ${where.param(filter.parentId)}`)
  const { text, values } = keysetQuery(`SELECT ${COLUMNS} FROM categories`, where, SORTS[sort], after, limit)
  const { rows } = await q.query<CategoryRow>(text, values)
  return rows
}

export async function insertCategory(
  q: Queryable,
  input: { name: string; slug: string; description: string; parentId: number | null }
): Promise<CategoryRow> {
  const { rows } = await q.query<CategoryRow>(
    `INSERT INTO categories (name, slug, description, parent_id) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
    [input.name, input.slug, input.description, input.parentId]
  )
  return rows[0] as CategoryRow
}

const UPDATABLE: Record<keyof UpdateCategory, string> = {
  name: 'name',
  slug: 'slug',
  description: 'description',
  parentId: 'parent_id'
}

export async function updateCategory(q: Queryable, id: number, patch: UpdateCategory): Promise<CategoryRow> {
  const { sets, values } = setClause(patch, UPDATABLE)
  const { rows } = await q.query<CategoryRow>(
    `UPDATE categories SET ${sets}, version = version + 1, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, ...values]
  )
  return rows[0] as CategoryRow
}

export async function deleteCategory(q: Queryable, id: number): Promise<void> {
  await q.query('DELETE FROM categories WHERE id = $1', [id])
}

// Serialises parent changes so two concurrent moves cannot together close a cycle.
const TREE_LOCK_KEY = 7_261_002

export async function lockTree(q: Queryable): Promise<void> {
  await q.query('SELECT pg_advisory_xact_lock($1)', [TREE_LOCK_KEY])
}
