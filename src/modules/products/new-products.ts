import { type Queryable } from '../../db/pool.js'
import { writeWithEntries } from '../../writes/mutation.js'
import { type CreatedProduct, derivedRowsOf, type NewProductFields } from './derived-rows.js'
import type { NewProduct, ProductRow } from './repository.js'
import type { Media, Price } from './schemas.js'
import { type NewVariant, type VariantRow, variantFieldsOf } from './variant-repository.js'

// New products written with ids allocated first (a bulk import's batch, a batch of API creates): the writer then
// holds every value of the new rows and builds their documents and price rows itself (derived-rows.ts), and the rows
// go in one statement.

/**
 * Ids for new products, variants and media: one round trip. With `writesDerived` it also tells the variants'
 * insert triggers that this transaction writes its new products' documents and price rows itself (migration 017),
 * and gives the transaction's time as the documents and the rows' timestamptz(3) columns hold it.
 */
export async function allocateIds(
  q: Queryable,
  counts: { products: number; variants: number; media: number },
  writesDerived: boolean
) {
  const { rows } = await q.query<{ p: number[]; v: number[]; m: number[]; at: string }>(
    `SELECT ARRAY(SELECT nextval('products_id_seq')::integer FROM generate_series(1, $1)) AS p,
            ARRAY(SELECT nextval('product_variants_id_seq')::integer FROM generate_series(1, $2)) AS v,
            ARRAY(SELECT nextval('product_media_id_seq')::integer FROM generate_series(1, $3)) AS m,
            CASE WHEN $4::boolean THEN set_config('catalog.derived_rows', 'written', true) END AS derived,
            to_char(now()::timestamptz(3) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at`,
    [counts.products, counts.variants, counts.media, writesDerived]
  )
  const row = rows[0] as { p: number[]; v: number[]; m: number[]; at: string }
  let [pi, vi, mi] = [0, 0, 0]
  return {
    at: row.at,
    product: () => row.p[pi++] as number,
    variant: () => row.v[vi++] as number,
    media: () => row.m[mi++] as number
  }
}

/** A variant as the JSON records of INSERT_VARIANTS and the import's update of variants read it. */
export const variantJson = (productId: number, v: NewVariant & { id?: number }) => ({
  id: v.id,
  product_id: productId,
  sku: v.sku,
  title: v.title,
  option_values: v.optionValues,
  prices: v.prices,
  compare_at_prices: v.compareAtPrices,
  stock: v.stock,
  barcode: v.barcode,
  weight_grams: v.weightGrams,
  position: v.position
})

/** A product as the JSON records of INSERT_PRODUCTS and the import's update of products read it. */
export const productJson = (id: number, p: NewProductFields, media: Media[] | null) => ({
  id,
  name: p.name,
  slug: p.slug,
  description: p.description,
  category_id: p.categoryId,
  status: p.status,
  tags: p.tags,
  options: p.options,
  media
})

export const VARIANT_RECORD = `v(id integer, product_id integer, sku text, title text, option_values jsonb, prices jsonb,
  compare_at_prices jsonb, stock integer, barcode text, weight_grams integer, position integer)`
export const OPTION_VALUES = 'ARRAY(SELECT jsonb_array_elements_text(v.option_values))'
export const PRODUCT_RECORD = `p(id integer, name text, slug text, description text, category_id integer,
  status product_status, tags jsonb, options jsonb, media jsonb)`
/** New products, from a JSON array parameter of productJson records. */
export const INSERT_PRODUCTS = (param: string) => `INSERT INTO products (id, name, slug, description, category_id,
                                                             status, tags, options, media)
       OVERRIDING SYSTEM VALUE
       SELECT p.id, p.name, p.slug, p.description, p.category_id, p.status,
              ARRAY(SELECT jsonb_array_elements_text(p.tags)), p.options, coalesce(p.media, '[]')
         FROM jsonb_to_recordset(${param}::jsonb) AS ${PRODUCT_RECORD}`
/** New variants, from a JSON array parameter of variantJson records. */
export const INSERT_VARIANTS = (param: string) => `INSERT INTO product_variants (id, product_id, sku, title,
                                     option_values, prices, compare_at_prices, stock, barcode, weight_grams, position)
       SELECT v.id, v.product_id, v.sku, v.title, ${OPTION_VALUES}, v.prices, v.compare_at_prices, v.stock,
              v.barcode, v.weight_grams, v.position
         FROM jsonb_to_recordset(${param}::jsonb) AS ${VARIANT_RECORD}`

/**
 * New products with their variants, documents and price rows, as common table expressions ("name AS (...), ",
 * to go before a final statement such as appendEntriesAfter's) with their parameters, $1 to $10. The transaction
 * must have allocated their ids with `writesDerived` (allocateIds); `at` is the time it gave. The variants' check
 * of their products runs at the statement's end and sees the products written beside them.
 */
export function newProductsCtes(products: CreatedProduct[], at: string): { ctes: string; params: unknown[] } {
  const { documents, prices } = derivedRowsOf(products, at)
  return {
    ctes: `new_products AS (${INSERT_PRODUCTS('$1')}),
       new_variants AS (${INSERT_VARIANTS('$2')}),
       new_documents AS (
         INSERT INTO product_documents (product_id, doc)
         SELECT * FROM unnest($3::integer[], string_to_array($4, E'\\n'))
       ),
       new_prices AS (
         INSERT INTO product_prices (product_id, currency, min_cents, max_cents, status, category_id)
         SELECT * FROM unnest($5::integer[], $6::text[], $7::integer[], $8::integer[], $9::product_status[],
                              $10::integer[])
       ), `,
    params: [
      JSON.stringify(products.map((p) => productJson(p.id, p, p.media.length ? p.media : null))),
      JSON.stringify(products.flatMap((p) => p.variants.map((v) => variantJson(p.id, v)))),
      products.map((p) => p.id),
      documents,
      prices.productIds,
      prices.currencies,
      prices.mins,
      prices.maxes,
      prices.statuses,
      prices.categoryIds
    ]
  }
}

/** Prices with their keys in the order jsonb keeps them, as a row read back would hold them. */
const pricesOf = (prices: Price[]): Price[] => prices.map((p) => ({ currency: p.currency, amountCents: p.amountCents }))

/**
 * Many new products, each with its variants (a coalesced batch of API creates), in mutateMany's transaction
 * (writes/mutation.ts): their ids are allocated now, in the round trip of the transaction's BEGIN; the products,
 * variants, documents and price rows are written by one prepared statement with the batch's audit entries
 * (writeWithEntries), so a taken slug or SKU or a missing category fails it and the batch. Returns the rows as the
 * database will hold them, in the order of `items`, each product's variants in order.
 */
export async function insertNewProducts(
  q: Queryable,
  items: { product: NewProduct; variants: NewVariant[] }[]
): Promise<(ProductRow & { variants: VariantRow[] })[]> {
  const ids = await allocateIds(
    q,
    { products: items.length, variants: items.reduce((n, i) => n + i.variants.length, 0), media: 0 },
    true
  )
  const at = new Date(ids.at)
  const rows = items.map(({ product, variants }) => {
    const id = ids.product()
    const options = product.options.map((o) => ({ name: o.name, values: o.values }))
    return {
      id,
      ...product,
      options,
      media: [],
      version: 1,
      created_at: at,
      updated_at: at,
      variants: variants.map((v): VariantRow => ({
        id: ids.variant(),
        product_id: id,
        sku: v.sku,
        title: v.title,
        option_values: v.optionValues,
        prices: pricesOf(v.prices),
        compare_at_prices: v.compareAtPrices && pricesOf(v.compareAtPrices),
        stock: v.stock,
        barcode: v.barcode,
        weight_grams: v.weightGrams,
        position: v.position,
        version: 1,
        created_at: at,
        updated_at: at
      }))
    }
  })
  const { ctes, params } = newProductsCtes(
    rows.map((r) => ({
      id: r.id,
      name: r.name,
      slug: r.slug,
      description: r.description,
      categoryId: r.category_id,
      status: r.status,
      tags: r.tags,
      options: r.options,
      media: [],
      variants: r.variants.map((v) => ({ id: v.id, ...variantFieldsOf(v) }))
    })),
    ids.at
  )
  writeWithEntries(q, ctes, params)
  return rows
}
