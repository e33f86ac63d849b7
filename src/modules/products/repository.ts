import { Conditions, type KeysetOrder, keysetQuery, setClause } from '../../db/keyset.js'
import type { Queryable } from '../../db/pool.js'
import type { CursorKey } from '../../lib/cursor.js'
import type { CreateProduct, Product, ProductSort, UpdateProduct } from './schemas.js'

export interface ProductRow {
  id: number
  sku: string
  name: string
  slug: string
  description: string
  price_cents: number
  currency: string
  category_id: number | null
  stock: number
  status: Product['status']
  version: number
  created_at: Date
  updated_at: Date
}

const COLUMNS =
  'id, sku, name, slug, description, price_cents, currency, category_id, stock, status, version, created_at, updated_at'

export const rowToProduct = (row: ProductRow): Product => ({
  id: row.id,
  sku: row.sku,
  name: row.name,
  slug: row.slug,
  description: row.description,
  priceCents: row.price_cents,
  currency: row.currency,
  categoryId: row.category_id,
  stock: row.stock,
  status: row.status,
  version: row.version,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString()
})

export async function findProductById(
  q: Queryable,
  id: number,
  opts: { forUpdate?: boolean } = {}
): Promise<ProductRow | undefined> {
  const { rows } = await q.query<ProductRow>(
    `SELECT ${COLUMNS} FROM products WHERE id = $1${opts.forUpdate ? ' FOR UPDATE' : ''}`,
    [id]
  )
  return rows[0]
}

/** Keyset order per sort: the column, direction, and how a row becomes the cursor key. */
const SORTS: Record<ProductSort, KeysetOrder<ProductRow>> = {
  newest: { column: 'created_at', cast: 'timestamptz', desc: true, key: (r) => [r.created_at.toISOString(), r.id] },
  price: { column: 'price_cents', cast: 'integer', desc: false, key: (r) => [r.price_cents, r.id] },
  '-price': { column: 'price_cents', cast: 'integer', desc: true, key: (r) => [r.price_cents, r.id] },
  name: { column: 'name', cast: 'text', desc: false, key: (r) => [r.name, r.id] }
}

export interface ProductFilter {
  categoryIds?: number[]
  status?: Product['status']
  minPrice?: number
  maxPrice?: number
  q?: string
}

export const productCursorKey = (sort: ProductSort, row: ProductRow) => SORTS[sort].key(row)

/** One page in keyset order, fetching one row more than `limit` so the caller knows whether more follow. */
export async function listProducts(
  q: Queryable,
  filter: ProductFilter,
  sort: ProductSort,
  after: CursorKey | undefined,
  limit: number
): Promise<ProductRow[]> {
  const where = new Conditions()
  const ids = filter.categoryIds
  if (ids) {
    where.add(
      ids.length === 1 ? `category_id = ${where.param(ids[0])}` : `category_id = ANY(${where.param(ids)}::integer[])`
    )
  }
  if (filter.status) where.add(`status = ${where.param(filter.status)}`)
  if (filter.minPrice !== undefined) where.add(`price_cents >= ${where.param(filter.minPrice)}`)
  if (filter.maxPrice !== undefined) where.add(`price_cents <= ${where.param(filter.maxPrice)}`)
  if (filter.q) where.add(`search @@ websearch_to_tsquery('english', ${where.param(filter.q)})`)
  const { text, values } = keysetQuery(`SELECT ${COLUMNS} FROM products`, where, SORTS[sort], after, limit)
  const { rows } = await q.query<ProductRow>(text, values)
  return rows
}

export async function insertProduct(
  q: Queryable,
  input: Required<Omit<CreateProduct, 'categoryId'>> & { categoryId: number | null }
): Promise<ProductRow> {
  const { rows } = await q.query<ProductRow>(
    `INSERT INTO products (sku, name, slug, description, price_cents, currency, category_id, stock, status)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${COLUMNS}`,
    [
      input.sku,
      input.name,
      input.slug,
      input.description,
      input.priceCents,
      input.currency,
      input.categoryId,
      input.stock,
      input.status
    ]
  )
  return rows[0] as ProductRow
}

const UPDATABLE: Record<keyof UpdateProduct, string> = {
  sku: 'sku',
  name: 'name',
  slug: 'slug',
  description: 'description',
  priceCents: 'price_cents',
  currency: 'currency',
  categoryId: 'category_id',
  stock: 'stock',
  status: 'status'
}

export async function updateProduct(q: Queryable, id: number, patch: UpdateProduct): Promise<ProductRow> {
  const { sets, values } = setClause(patch, UPDATABLE)
  const { rows } = await q.query<ProductRow>(
    `UPDATE products SET ${sets}, version = version + 1, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, ...values]
  )
  return rows[0] as ProductRow
}

export async function deleteProduct(q: Queryable, id: number): Promise<void> {
  await q.query('DELETE FROM products WHERE id = $1', [id])
}
