import { Conditions, type KeysetOrder, keysetQuery, setClause } from '../../db/keyset.js'
import { escapeLiteral } from '../../db/inline.js'
import { prepared, type Queryable } from '../../db/pool.js'
import type { CursorKey } from '../../lib/cursor.js'
import type { PriceRows } from './derived-rows.js'
import type { NewVariant, VariantRow } from './variant-repository.js'
import { insertVariantsSql, rowToVariant } from './variant-repository.js'
import type { ListProductsQuery, Media, Product, ProductOption, ProductSort, UpdateProduct } from './schemas.js'
import { ProductStatus } from './schemas.js'

const STATUSES: ReadonlySet<string> = new Set(ProductStatus.enum)

export interface ProductRow {
  id: number
  name: string
  slug: string
  description: string
  category_id: number | null
  status: Product['status']
  tags: string[]
  options: ProductOption[]
  media: Media[]
  version: number
  created_at: Date
  updated_at: Date
  /** The sort key of a price-sorted list (the lowest variant price in its currency). */
  min_cents?: number
  /** Its variants in order, when read with them (one round trip: timestamps arrive as JSON strings). */
  variants?: VariantRow[]
}

/** What a row needs for its cursor key in any product sort. */
type SortKeyRow = Pick<ProductRow, 'id' | 'name' | 'created_at' | 'min_cents'>

/** A product as reads answer it: its document (the Product's JSON) with what a read decides on. */
export interface ProductDocumentRow {
  id: number
  status: Product['status']
  version: number
  name: string
  created_at: Date
  /** The sort key of a price-sorted list. */
  min_cents?: number
  doc: string
}

const COLUMNS =
  'id, name, slug, description, category_id, status, tags, options, media, version, created_at, updated_at'
// In a price-sorted list the id, status and category come from product_prices, so the filters, keyset condition
// and order are conditions on its indexes.
const FROM_PRICES = new Set(['status', 'category_id'])
const PRICED_COLUMNS = COLUMNS.split(', ')
  .map((c) => (c === 'id' ? 'pp.product_id AS id' : FROM_PRICES.has(c) ? `pp.${c}` : `p.${c}`))
  .join(', ')

/** The lowest and highest price per currency over the variants. */
export function priceRangeOf(variants: readonly Pick<VariantRow, 'prices'>[]): Product['priceRange'] {
  const range: Product['priceRange'] = {}
  for (const v of variants) {
    for (const { currency, amountCents } of v.prices) {
      const r = range[currency]
      if (!r) range[currency] = { min: amountCents, max: amountCents }
      else {
        if (amountCents < r.min) r.min = amountCents
        if (amountCents > r.max) r.max = amountCents
      }
    }
  }
  return range
}

/** The product's fields as its audit entries record them (variants have entries of their own). */
export const rowToProductFields = (row: ProductRow) => ({
  id: row.id,
  name: row.name,
  slug: row.slug,
  description: row.description,
  categoryId: row.category_id,
  status: row.status,
  tags: row.tags,
  options: row.options,
  media: row.media,
  version: row.version,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString()
})

export const rowToProduct = (row: ProductRow, variants: VariantRow[] = row.variants ?? []): Product => {
  const { media, options, ...fields } = rowToProductFields(row)
  return {
    ...fields,
    options,
    variants: variants.map(rowToVariant),
    media,
    priceRange: priceRangeOf(variants)
  }
}

// The variants of each row as a JSON array, in the same query: a read is one round trip, and a list page one query.
// A lateral join evaluated per row the outer scan yields, so a page aggregates the variants of its own rows only.
const VARIANTS_JOIN = ` LEFT JOIN LATERAL (SELECT coalesce(json_agg(v ORDER BY v.position, v.id), '[]'::json) AS variants
      FROM product_variants v WHERE v.product_id = products.id) pv ON true`

// The product's document from product_documents (migration 010), kept by triggers with every write; a product
// that has none yet (inserted without variants) has it built by the same function the triggers use.
const DOCUMENT_COLUMNS =
  'products.id, products.status, products.version, products.name, products.created_at, ' +
  'coalesce(d.doc, product_document(products.id)) AS doc'
const DOCUMENT_JOIN = ' LEFT JOIN product_documents d ON d.product_id = products.id'

/** A product's document, by id or slug. */
export async function findProductDocument(
  q: Queryable,
  by: { id: number } | { slug: string }
): Promise<ProductDocumentRow | undefined> {
  const [column, value] = 'id' in by ? ['id', by.id] : ['slug', by.slug]
  const { rows } = await q.query<ProductDocumentRow>(
    prepared(`SELECT ${DOCUMENT_COLUMNS} FROM products${DOCUMENT_JOIN} WHERE products.${column} = $1`),
    [value]
  )
  return rows[0]
}

export async function findProductById(
  q: Queryable,
  id: number,
  opts: { forUpdate?: boolean } = {}
): Promise<ProductRow | undefined> {
  const { rows } = await q.query<ProductRow>(
    prepared(`SELECT ${COLUMNS} FROM products WHERE id = $1${opts.forUpdate ? ' FOR UPDATE' : ''}`),
    [id]
  )
  return rows[0]
}

/** Keyset order per sort: the column, direction, and how a row becomes the cursor key. */
const SORTS: Record<ProductSort, KeysetOrder<SortKeyRow>> = {
  newest: { column: 'created_at', cast: 'timestamptz', desc: true, key: (r) => [r.created_at.toISOString(), r.id] },
  name: { column: 'name', cast: 'text', desc: false, key: (r) => [r.name, r.id] },
  // Price sorts walk product_prices (currency, min_cents, product_id); `id` there is the product's id.
  price: { column: 'min_cents', cast: 'integer', desc: false, key: (r) => [r.min_cents as number, r.id] },
  '-price': { column: 'min_cents', cast: 'integer', desc: true, key: (r) => [r.min_cents as number, r.id] }
}

export interface ProductFilter {
  categoryIds?: number[]
  /** The one status a reader may see or asked for; none: every status. */
  status?: Product['status']
  currency: string
  minPrice?: number
  maxPrice?: number
  tags?: string[]
  sku?: string
  hasStock?: boolean
  q?: string
}

/** The list filters of a query (a list page or an export) as the repository takes them. */
export const productFilter = (
  query: Pick<ListProductsQuery, 'minPrice' | 'maxPrice' | 'tag' | 'sku' | 'hasStock' | 'q'>,
  scope: { status: Product['status'] | undefined; currency: string; categoryIds: number[] | undefined }
): ProductFilter => ({
  categoryIds: scope.categoryIds,
  status: scope.status,
  currency: scope.currency,
  minPrice: query.minPrice,
  maxPrice: query.maxPrice,
  tags: query.tag,
  sku: query.sku,
  hasStock: query.hasStock,
  q: query.q
})

export const productCursorKey = (sort: ProductSort, row: SortKeyRow) => SORTS[sort].key(row)

/**
 * The filtered products' documents: the SELECT and its conditions, without order or limit (a list page adds its
 * keyset order). A price sort or filter reads product_prices in `currency`: products with no price there are left out.
 */
export function filteredProducts(
  filter: ProductFilter,
  priced: boolean,
  keepPlan: boolean
): { select: string; where: Conditions } {
  const { from, where } = filteredFrom(filter, priced, keepPlan)
  return { select: `SELECT ${DOCUMENT_COLUMNS}${priced ? ', min_cents' : ''} FROM ${from}${DOCUMENT_JOIN}`, where }
}

/** The products' documents alone, in id order: `from` and `conditions` as filteredFrom gives them. */
export const documentLinesSql = (from: string, conditions: string[]) =>
  `SELECT coalesce(d.doc, product_document(products.id)) FROM ${from}${DOCUMENT_JOIN}${
    conditions.length ? ` WHERE ${conditions.join(' AND ')}` : ''
  } ORDER BY products.id`

/**
 * The relation named `products` the filters read and their conditions (filteredProducts selects from it); with
 * `keepPlan`, the one category and the currency, which meet index columns, are unseen values (Conditions.value).
 */
export function filteredFrom(
  filter: ProductFilter,
  priced: boolean,
  keepPlan = false
): { from: string; where: Conditions } {
  const where = new Conditions()
  const ids = filter.categoryIds
  if (ids) {
    where.add(
      ids.length === 1
        ? `category_id = ${where.value(ids[0], 'integer', keepPlan)}`
        : `category_id = ANY(${where.param(ids)}::integer[])`
    )
  }
  if (filter.status) {
    // A literal, not a parameter: the value is one of three, and with `status = $1` PostgreSQL plans the newest
    // page again on every run (its custom plan beats the generic one's estimate), which costs more than running it.
    if (!STATUSES.has(filter.status)) throw new TypeError(`not a product status: ${filter.status}`)
    where.add(`status = '${filter.status}'`)
  }
  if (priced) where.add(`currency = ${where.value(filter.currency, 'text', keepPlan)}`)
  if (filter.minPrice !== undefined) where.add(`min_cents >= ${where.param(filter.minPrice)}`)
  if (filter.maxPrice !== undefined) where.add(`min_cents <= ${where.param(filter.maxPrice)}`)
  if (filter.tags) where.add(`tags @> ${where.param(filter.tags)}::text[]`)
  if (filter.sku) where.add(`id IN (SELECT product_id FROM product_variants WHERE sku = ${where.param(filter.sku)})`)
  if (filter.hasStock !== undefined) {
    where.add(
      `${filter.hasStock ? '' : 'NOT '}EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = products.id AND v.stock > 0)`
    )
  }
  if (filter.q) {
    const term = where.param(filter.q)
    where.add(
      `(search @@ websearch_to_tsquery('english', ${term}) OR id IN (SELECT product_id FROM product_variants WHERE sku = ${term}))`
    )
  }
  const from = priced
    ? `(SELECT ${PRICED_COLUMNS}, pp.min_cents, pp.currency, p.search FROM product_prices pp JOIN products p ON p.id = pp.product_id) products`
    : 'products'
  return { from, where }
}

export const filterUsesPrices = (filter: ProductFilter) =>
  filter.minPrice !== undefined || filter.maxPrice !== undefined

/**
 * Whether one plan serves a page of `filter` whatever its values (see keysetQuery's keepPlan): status, categories and the
 * currency of a price sort each meet an index column; search words, tags, a SKU, stock and a price range are as
 * selective as their values, and a plan kept for any value could walk the whole table for a rare one.
 */
const planKeepable = (filter: ProductFilter) =>
  filter.q === undefined &&
  !filter.tags?.length &&
  filter.sku === undefined &&
  filter.hasStock === undefined &&
  filter.minPrice === undefined &&
  filter.maxPrice === undefined

/**
 * One page of product documents in keyset order, fetching one row more than `limit` so the caller knows whether
 * more follow.
 */
export async function listProducts(
  q: Queryable,
  filter: ProductFilter,
  sort: ProductSort,
  after: CursorKey | undefined,
  limit: number
): Promise<ProductDocumentRow[]> {
  const priced = sort === 'price' || sort === '-price' || filterUsesPrices(filter)
  const keepPlan = planKeepable(filter)
  const { select, where } = filteredProducts(filter, priced, keepPlan)
  if (!priced && !filter.status) return listEveryStatus(q, where, SORTS[sort], after, limit, keepPlan)
  const { text, values } = keysetQuery(select, where, SORTS[sort], after, limit, { keepPlan })
  const { rows } = await q.query<ProductDocumentRow>(prepared(text), values)
  return rows
}

/** The products of `slugs` with their variants; with forUpdate locked in id order (concurrent batches never deadlock). */
export async function findProductsBySlug(
  q: Queryable,
  slugs: string[],
  opts: { forUpdate?: boolean } = {}
): Promise<ProductRow[]> {
  if (!slugs.length) return []
  const { rows } = await q.query<ProductRow>(
    `SELECT ${COLUMNS}, pv.variants FROM products${VARIANTS_JOIN}
      WHERE slug = ANY($1::text[]) ORDER BY id${opts.forUpdate ? ' FOR UPDATE OF products' : ''}`,
    [slugs]
  )
  return rows
}

/**
 * A page over every status: the products indexes all lead with status (an index without it would tempt the
 * planner into walking it and filtering when the newest rows are drafts, a scan of all of them for one page),
 * so each status is one ordered index scan of at most one page, and the pages are merged.
 */
async function listEveryStatus(
  q: Queryable,
  where: Conditions,
  order: KeysetOrder<SortKeyRow>,
  after: CursorKey | undefined,
  limit: number,
  keepPlan: boolean
): Promise<ProductDocumentRow[]> {
  where.add('status = s.st')
  const branch = keysetQuery(`SELECT ${COLUMNS} FROM products`, where, order, after, limit, { keepPlan })
  const direction = order.desc ? 'DESC' : 'ASC'
  const orderBy = `ORDER BY products.${order.column} ${direction}, products.id ${direction}`
  const { rows } = await q.query<ProductDocumentRow>(
    prepared(`SELECT ${DOCUMENT_COLUMNS}
       FROM (SELECT b.* FROM unnest(enum_range(NULL::product_status)) AS s (st)
               CROSS JOIN LATERAL (${branch.text}) b
              ORDER BY b.${order.column} ${direction}, b.id ${direction} LIMIT ${branch.limit}) products
            ${DOCUMENT_JOIN}
      ${orderBy}`),
    branch.values
  )
  return rows
}

export type NewProduct = Pick<
  ProductRow,
  'name' | 'slug' | 'description' | 'category_id' | 'status' | 'tags' | 'options'
>

const INSERT_PRODUCT = `INSERT INTO products (name, slug, description, category_id, status, tags, options)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${COLUMNS}`
const productValues = (input: NewProduct) => [
  input.name,
  input.slug,
  input.description,
  input.category_id,
  input.status,
  input.tags,
  JSON.stringify(input.options)
]

/** A product and its variants in one statement (one round trip); the variants come back in order. */
export async function insertProductWithVariants(
  q: Queryable,
  input: NewProduct,
  variants: NewVariant[]
): Promise<ProductRow & { variants: VariantRow[] }> {
  const { rows } = await q.query<ProductRow & { variants: VariantRow[] }>(
    prepared(`WITH p AS (${INSERT_PRODUCT}), v AS (${insertVariantsSql('p.id', '$8', 'p, ')})
     SELECT p.*, (SELECT coalesce(json_agg(v ORDER BY v.position, v.id), '[]'::json) FROM v) AS variants FROM p`),
    [...productValues(input), JSON.stringify(variants)]
  )
  return rows[0] as ProductRow & { variants: VariantRow[] }
}

const UPDATABLE: Record<keyof UpdateProduct, string> = {
  name: 'name',
  slug: 'slug',
  description: 'description',
  categoryId: 'category_id',
  status: 'status',
  tags: 'tags'
}

export async function updateProduct(q: Queryable, id: number, patch: UpdateProduct): Promise<ProductRow> {
  const { sets, values } = setClause(patch, UPDATABLE)
  const { rows } = await q.query<ProductRow>(
    prepared(
      `UPDATE products SET ${sets ? `${sets}, ` : ''}version = version + 1, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`
    ),
    [id, ...values]
  )
  return rows[0] as ProductRow
}

/** A change below the product (a variant, the media): its version moves so its ETag and cache entry do. */
export async function touchProduct(q: Queryable, id: number): Promise<ProductRow> {
  return updateProduct(q, id, {})
}

/** Stores products' documents (by product id) as their writer built them; in id order, as every writer of them. */
export function storeDocumentsSql(documents: Map<number, string>): string {
  const rows = [...documents].sort(([a], [b]) => a - b)
  const values = rows.map(([id, doc]) => {
    if (!Number.isSafeInteger(id)) throw new TypeError(`not an id: ${id}`)
    return `(${id}, ${escapeLiteral(doc)})`
  })
  return `INSERT INTO product_documents (product_id, doc) VALUES ${values.join(', ')}
    ON CONFLICT (product_id) DO UPDATE SET doc = EXCLUDED.doc`
}

/**
 * Replaces the price rows of the products `productIds` with `rows` (addPriceRows), as refresh_product_prices would:
 * their writer holds the bounds.
 */
export function replacePricesSql(productIds: number[], rows: PriceRows): string {
  if (!productIds.every(Number.isSafeInteger)) throw new TypeError(`not ids: ${productIds.join(', ')}`)
  const values = rows.productIds.map((id, i) => {
    const [min, max, categoryId] = [rows.mins[i], rows.maxes[i], rows.categoryIds[i]]
    if (
      !Number.isSafeInteger(id) ||
      !Number.isSafeInteger(min) ||
      !Number.isSafeInteger(max) ||
      !(categoryId === null || Number.isSafeInteger(categoryId))
    )
      throw new TypeError(`not a price row: ${id}, ${min}, ${max}, ${categoryId}`)
    return `(${id}, ${escapeLiteral(rows.currencies[i] as string)}, ${min}, ${max}, ${escapeLiteral(rows.statuses[i] as string)}, ${categoryId ?? 'NULL'})`
  })
  const deleted = `DELETE FROM product_prices WHERE product_id IN (${productIds.join(', ')})`
  if (!values.length) return deleted
  return `${deleted};
    INSERT INTO product_prices (product_id, currency, min_cents, max_cents, status, category_id) VALUES ${values.join(', ')}`
}

/** Replaces the ordered media list; new ids come from product_media_id_seq. */
export async function replaceMedia(
  q: Queryable,
  id: number,
  media: Omit<Media, 'id'>[],
  opts: { bump: boolean } = { bump: true }
): Promise<ProductRow> {
  const { rows } = await q.query<ProductRow>(
    `UPDATE products SET media = coalesce((
        SELECT jsonb_agg(jsonb_build_object('id', nextval('product_media_id_seq')) || m.item ORDER BY m.n)
          FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS m(item, n)), '[]')
        ${opts.bump ? ', version = version + 1, updated_at = now()' : ''}
      WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, JSON.stringify(media)]
  )
  return rows[0] as ProductRow
}

export async function deleteProduct(q: Queryable, id: number): Promise<void> {
  await q.query('DELETE FROM products WHERE id = $1', [id])
}
