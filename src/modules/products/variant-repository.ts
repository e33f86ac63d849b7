import { setClause } from '../../db/keyset.js'
import { prepared, type Queryable } from '../../db/pool.js'
import type { ProductRowOrJson } from './derived-rows.js'
import type { Price, UpdateVariant, Variant } from './schemas.js'

export interface VariantRow {
  id: number
  product_id: number
  sku: string
  title: string
  option_values: string[]
  prices: Price[]
  compare_at_prices: Price[] | null
  stock: number
  barcode: string | null
  weight_grams: number | null
  position: number
  version: number
  /** A Date from a row, an ISO string from the JSON of a product read with its variants (VARIANTS_JOIN). */
  created_at: Date | string
  updated_at: Date | string
}

/** A row's time as the API writes it; a row read as JSON holds it as ISO text. */
export const iso = (at: Date | string) => (typeof at === 'string' ? new Date(at) : at).toISOString()

const COLUMNS =
  'id, product_id, sku, title, option_values, prices, compare_at_prices, stock, barcode, weight_grams, position, ' +
  'version, created_at, updated_at'

export const rowToVariant = (row: VariantRow): Variant => ({
  id: row.id,
  sku: row.sku,
  title: row.title,
  optionValues: row.option_values,
  prices: row.prices,
  compareAtPrices: row.compare_at_prices,
  stock: row.stock,
  barcode: row.barcode,
  weightGrams: row.weight_grams,
  position: row.position,
  version: row.version,
  createdAt: iso(row.created_at),
  updatedAt: iso(row.updated_at)
})

/** A variant's own fields (no id, version or times), from its row or from its values as planned. */
export const variantFieldsOf = (v: VariantRow | NewVariant) =>
  'option_values' in v
    ? {
        sku: v.sku,
        title: v.title,
        optionValues: v.option_values,
        prices: v.prices,
        compareAtPrices: v.compare_at_prices,
        stock: v.stock,
        barcode: v.barcode,
        weightGrams: v.weight_grams,
        position: v.position
      }
    : {
        sku: v.sku,
        title: v.title,
        optionValues: v.optionValues,
        prices: v.prices,
        compareAtPrices: v.compareAtPrices,
        stock: v.stock,
        barcode: v.barcode,
        weightGrams: v.weightGrams,
        position: v.position
      }

/** The variants of the given products in one query, grouped by product in their order. */
export async function variantsOf(q: Queryable, productIds: number[]): Promise<Map<number, VariantRow[]>> {
  const byProduct = new Map<number, VariantRow[]>(productIds.map((id) => [id, []]))
  if (productIds.length === 0) return byProduct
  const { rows } = await q.query<VariantRow>(
    `SELECT ${COLUMNS} FROM product_variants WHERE product_id = ANY($1::integer[]) ORDER BY product_id, position, id`,
    [productIds]
  )
  for (const row of rows) byProduct.get(row.product_id)?.push(row)
  return byProduct
}

export async function findVariant(
  q: Queryable,
  productId: number,
  id: number,
  opts: { forUpdate?: boolean } = {}
): Promise<VariantRow | undefined> {
  const { rows } = await q.query<VariantRow>(
    prepared(
      `SELECT ${COLUMNS} FROM product_variants WHERE id = $1 AND product_id = $2${opts.forUpdate ? ' FOR UPDATE' : ''}`
    ),
    [id, productId]
  )
  return rows[0]
}

export interface NewVariant {
  sku: string
  title: string
  optionValues: string[]
  prices: Price[]
  compareAtPrices: Price[] | null
  stock: number
  barcode: string | null
  weightGrams: number | null
  position: number
}

/**
 * The INSERT of variants for the product `productId` (an SQL expression) from the JSON array `variantsJson` (a
 * parameter), returning their rows; `from` lists further tables the product id comes from (`p, `).
 */
export const insertVariantsSql = (productId: string, variantsJson: string, from = '') =>
  `INSERT INTO product_variants (product_id, sku, title, option_values, prices, compare_at_prices, stock, barcode,
                                 weight_grams, position)
   SELECT ${productId}, v.sku, v.title, ARRAY(SELECT jsonb_array_elements_text(v."optionValues")), v.prices,
          v."compareAtPrices", v.stock, v.barcode, v."weightGrams", v.position
     FROM ${from}jsonb_to_recordset(${variantsJson}::jsonb) AS v(sku text, title text, "optionValues" jsonb,
          prices jsonb, "compareAtPrices" jsonb, stock integer, barcode text, "weightGrams" integer, position integer)
   RETURNING ${COLUMNS}`

/** Inserts variants in one statement, in order. */
export async function insertVariants(q: Queryable, productId: number, variants: NewVariant[]): Promise<VariantRow[]> {
  const { rows } = await q.query<VariantRow>(insertVariantsSql('$1', '$2'), [productId, JSON.stringify(variants)])
  return rows.sort((a, b) => a.position - b.position)
}

const UPDATABLE: Record<keyof UpdateVariant, string> = {
  sku: 'sku',
  title: 'title',
  optionValues: 'option_values',
  prices: 'prices',
  compareAtPrices: 'compare_at_prices',
  stock: 'stock',
  barcode: 'barcode',
  weightGrams: 'weight_grams',
  position: 'position'
}

export async function updateVariant(q: Queryable, id: number, patch: UpdateVariant): Promise<VariantRow> {
  const json = (p?: Price[] | null) => (p === undefined || p === null ? p : JSON.stringify(p))
  const { sets, values } = setClause(
    { ...patch, prices: json(patch.prices), compareAtPrices: json(patch.compareAtPrices) },
    UPDATABLE
  )
  const { rows } = await q.query<VariantRow>(
    prepared(
      `UPDATE product_variants SET ${sets}, version = version + 1, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`
    ),
    [id, ...values]
  )
  return rows[0] as VariantRow
}

/** Adds `delta` unless the stock would fall below 0: one statement, so concurrent adjustments never oversell. */
export async function adjustStock(
  q: Queryable,
  productId: number,
  id: number,
  delta: number
): Promise<VariantRow | undefined> {
  const { rows } = await q.query<VariantRow>(
    prepared(`UPDATE product_variants SET stock = (stock + $3::bigint)::integer, version = version + 1, updated_at = now()
      WHERE id = $1 AND product_id = $2 AND stock + $3::bigint >= 0 AND stock + $3::bigint <= 2147483647
      RETURNING ${COLUMNS}`),
    [id, productId, delta]
  )
  return rows[0]
}

export async function deleteVariant(q: Queryable, id: number): Promise<void> {
  await q.query('DELETE FROM product_variants WHERE id = $1', [id])
}

export async function countVariants(q: Queryable, productId: number): Promise<number> {
  const { rows } = await q.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM product_variants WHERE product_id = $1',
    [productId]
  )
  return rows[0]?.n ?? 0
}

/** A variant of a batch, locked, with its product's row as it stands locked (read as JSON: times as ISO text). */
export type LockedVariant = VariantRow & { product: ProductRowOrJson }

/**
 * Locks the products, then the variants, of a batch of variant writes, each in id order (the order lockVariant
 * takes one product and its variant in); the variants' rows by id (a variant of another product is left out), each
 * with its product's row (lock_variant_batch, migration 019).
 */
export async function lockVariants(
  q: Queryable,
  targets: { productId: number; id: number }[]
): Promise<Map<number, LockedVariant>> {
  const { rows } = await q.query<{ variant: VariantRow; product: ProductRowOrJson }>(
    'SELECT variant, product FROM lock_variant_batch($1::integer[], $2::integer[])',
    [[...new Set(targets.map((t) => t.productId))], targets.map((t) => t.id)]
  )
  return new Map(rows.map(({ variant, product }) => [variant.id, { ...variant, product }]))
}

// A field a patch gives replaces the column; one it leaves out keeps it (as updateVariant's SET lists only those given).
const PATCHED = (field: string, column: string, value: string) =>
  `${column} = CASE WHEN i.patch ? '${field}' THEN ${value} ELSE v.${column} END`

// updateVariants' statement, built once rather than at every batch.
const UPDATE_VARIANTS = `WITH changed AS (
       UPDATE product_variants v SET
         ${PATCHED('sku', 'sku', "i.patch->>'sku'")},
         ${PATCHED('title', 'title', "i.patch->>'title'")},
         ${PATCHED('prices', 'prices', "i.patch->'prices'")},
         ${PATCHED('compareAtPrices', 'compare_at_prices', "nullif(i.patch->'compareAtPrices', 'null'::jsonb)")},
         ${PATCHED('stock', 'stock', "(i.patch->>'stock')::integer")},
         ${PATCHED('barcode', 'barcode', "i.patch->>'barcode'")},
         ${PATCHED('weightGrams', 'weight_grams', "(i.patch->>'weightGrams')::integer")},
         ${PATCHED('position', 'position', "(i.patch->>'position')::integer")},
         version = v.version + 1, updated_at = now()
        FROM jsonb_to_recordset($1::jsonb) AS i(id integer, patch jsonb)
       WHERE v.id = i.id
       RETURNING ${COLUMNS.split(', ')
         .map((c) => `v.${c}`)
         .join(', ')}
     ), products_touched AS (
       UPDATE products p SET version = p.version + c.n, updated_at = now()
         FROM unnest($2::integer[], $3::integer[]) AS c (id, n)
        WHERE p.id = c.id
     )
     SELECT *, true AS patched FROM changed
     UNION ALL
     SELECT ${COLUMNS}, false FROM product_variants
      WHERE product_id = ANY($2::integer[]) AND id NOT IN (SELECT id FROM changed)`

/**
 * Changes many variants in one statement (a coalesced batch of PATCHes without optionValues), and moves each of
 * their products' versions by its count in `touched` (as touchProduct follows updateVariant); the rows of the
 * variants changed, and of every other variant of their products (`patched` false), as the statement leaves them.
 * Run after the products are locked (lockVariants): no other writer changes their variants until the commit.
 */
export async function updateVariants(
  q: Queryable,
  patches: { id: number; patch: Omit<UpdateVariant, 'optionValues'> }[],
  touched: Map<number, number>
): Promise<(VariantRow & { patched: boolean })[]> {
  const { rows } = await q.query<VariantRow & { patched: boolean }>(prepared(UPDATE_VARIANTS), [
    JSON.stringify(patches),
    [...touched.keys()],
    [...touched.values()]
  ])
  return rows
}
