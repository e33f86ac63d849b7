import { priceRangeOf, type ProductRow } from './repository.js'
import type { Media, Price, Product, ProductOption } from './schemas.js'
import { iso, type NewVariant, type VariantRow, variantFieldsOf } from './variant-repository.js'

// The derived rows of new products (a bulk import's, a batch of API creates: new-products.ts), built here instead of
// by the variants' insert triggers (product_documents_of, refresh_product_prices: migrations 010–014; the triggers
// leave them to a transaction that sets catalog.derived_rows, migration 017). Building them was about two fifths of
// the database's CPU in an import of new products; here it is a string join over values the writer already holds:
// the response schema's serializer (fast-json-stringify) wrote the same text at a third more of the importer's CPU
// (docs/architecture.md, bulk import). The text is product_documents_of's to the byte
// (test/bulk/derived-rows.test.ts) for what that function reads of a new product: version 1, created and updated at
// the transaction's time, strings without lone surrogates (the schemas refuse them, and PostgreSQL could not store
// them).

/** A new product's own fields, as a writer plans them. */
export interface NewProductFields {
  name: string
  slug: string
  description: string
  categoryId: number | null
  status: string
  tags: string[]
  options: ProductOption[]
}

/** A product the batch creates: its fields as planned, its ids as allocated, its variants in position order. */
export type CreatedProduct = NewProductFields & {
  id: number
  variants: (NewVariant & { id: number })[]
  media: Media[]
}

/** The price rows of the listing (product_prices) of a batch of created products, as column arrays. */
export interface PriceRows {
  productIds: number[]
  currencies: string[]
  mins: number[]
  maxes: number[]
  statuses: string[]
  categoryIds: (number | null)[]
}

const str = JSON.stringify

/** A price list as jsonb writes it (`currency` before `amountCents`), made compact as the documents are. */
const pricesText = (prices: Price[]) => {
  let out = '['
  for (let i = 0; i < prices.length; i++) {
    const p = prices[i] as Price
    out += `${i ? ',' : ''}{"currency":${str(p.currency)},"amountCents":${p.amountCents}}`
  }
  return `${out}]`
}

/** A document's version and times (YYYY-MM-DDTHH:MM:SS.mmmZ, as the documents write the timestamptz(3) columns). */
interface Stamp {
  version: number
  createdAt: string
  updatedAt: string
}

type VariantFields = NewVariant & { id: number }

const variantText = (v: VariantFields, t: Stamp) =>
  `{"id":${v.id},"sku":${str(v.sku)},"title":${str(v.title)}` +
  `,"optionValues":${str(v.optionValues)},"prices":${pricesText(v.prices)}` +
  `,"compareAtPrices":${v.compareAtPrices ? pricesText(v.compareAtPrices) : 'null'},"stock":${v.stock}` +
  `,"barcode":${v.barcode === null ? 'null' : str(v.barcode)},"weightGrams":${v.weightGrams ?? 'null'}` +
  `,"position":${v.position},"version":${t.version},"createdAt":"${t.createdAt}","updatedAt":"${t.updatedAt}"}`

/** The document around its variants' text (`variants`, in position order); absent media fields as the function reads them. */
function documentText(
  p: NewProductFields & { id: number; media: Media[] },
  variants: string,
  ranges: Product['priceRange'],
  t: Stamp
): string {
  const options = p.options.map((o) => `{"name":${str(o.name)},"values":${str(o.values)}}`).join(',')
  const media = p.media
    .map(
      (m) =>
        `{"id":${m.id},"url":${str(m.url)},"alt":${str(m.alt ?? '')},"width":${m.width ?? 'null'}` +
        `,"height":${m.height ?? 'null'},"variantIds":${str(m.variantIds ?? [])}}`
    )
    .join(',')
  let priceRange = ''
  for (const [currency, r] of Object.entries(ranges))
    priceRange += `${priceRange ? ',' : ''}${str(currency)}:{"min":${r.min},"max":${r.max}}`
  return (
    `{"id":${p.id},"name":${str(p.name)},"slug":${str(p.slug)},"description":${str(p.description)}` +
    `,"categoryId":${p.categoryId ?? 'null'},"status":"${p.status}","tags":${str(p.tags)}` +
    `,"options":[${options}],"variants":[${variants}],"media":[${media}],"priceRange":{${priceRange}}` +
    `,"version":${t.version},"createdAt":"${t.createdAt}","updatedAt":"${t.updatedAt}"}`
  )
}

/** A new product's document; `at` is the transaction's time as the documents write it (YYYY-MM-DDTHH:MM:SS.mmmZ). */
export function documentOf(p: CreatedProduct, at: string, ranges = priceRangeOf(p.variants)): string {
  const t = { version: 1, createdAt: at, updatedAt: at }
  let variants = ''
  for (const v of p.variants) variants += `${variants ? ',' : ''}${variantText(v, t)}`
  return documentText(p, variants, ranges, t)
}

/** A product's row; read as JSON (lockVariants), its times are ISO text. */
export type ProductRowOrJson = Omit<ProductRow, 'created_at' | 'updated_at'> & {
  created_at: Date | string
  updated_at: Date | string
}

/**
 * The document of a product as its rows hold it after a write (a batch of variant PATCHes): `variants` are all of
 * its variants, in position then id order.
 */
export function documentOfRows(
  product: ProductRowOrJson,
  variants: VariantRow[],
  ranges = priceRangeOf(variants)
): string {
  let text = ''
  for (const v of variants) {
    const t = { version: v.version, createdAt: iso(v.created_at), updatedAt: iso(v.updated_at) }
    text += `${text ? ',' : ''}${variantText({ id: v.id, ...variantFieldsOf(v) }, t)}`
  }
  const p = {
    id: product.id,
    name: product.name,
    slug: product.slug,
    description: product.description,
    categoryId: product.category_id,
    status: product.status,
    tags: product.tags,
    options: product.options,
    media: product.media
  }
  const t = { version: product.version, createdAt: iso(product.created_at), updatedAt: iso(product.updated_at) }
  return documentText(p, text, ranges, t)
}

/** Whether two price ranges have the same bounds in the same currencies (their price rows would be the same). */
export function sameRanges(a: Product['priceRange'], b: Product['priceRange']): boolean {
  const currencies = Object.keys(a)
  if (currencies.length !== Object.keys(b).length) return false
  return currencies.every((c) => a[c]?.min === b[c]?.min && a[c]?.max === b[c]?.max)
}

/** Price rows to fill with addPriceRows. */
export const noPriceRows = (): PriceRows => ({
  productIds: [],
  currencies: [],
  mins: [],
  maxes: [],
  statuses: [],
  categoryIds: []
})

/** Adds a product's price rows (product_prices): one per currency of its price range, with its status and category. */
export function addPriceRows(
  rows: PriceRows,
  product: { id: number; status: string; categoryId: number | null },
  ranges: Product['priceRange']
): void {
  for (const [currency, r] of Object.entries(ranges)) {
    rows.productIds.push(product.id)
    rows.currencies.push(currency)
    rows.mins.push(r.min)
    rows.maxes.push(r.max)
    rows.statuses.push(product.status)
    rows.categoryIds.push(product.categoryId)
  }
}

/** The documents (one per line: a document holds no raw line break) and price rows of created products. */
export function derivedRowsOf(products: CreatedProduct[], at: string): { documents: string; prices: PriceRows } {
  const prices = noPriceRows()
  const documents: string[] = []
  for (const p of products) {
    const ranges = priceRangeOf(p.variants)
    documents.push(documentOf(p, at, ranges))
    addPriceRows(prices, p, ranges)
  }
  return { documents: documents.join('\n'), prices }
}
