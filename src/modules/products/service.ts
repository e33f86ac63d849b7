import type { Database } from '../../db/database.js'
import { toPage } from '../../db/keyset.js'
import { isForeignKeyViolation, isUniqueViolation } from '../../db/errors.js'
import type { Queryable } from '../../db/pool.js'
import type { CursorCodec } from '../../lib/cursor.js'
import { assertIfMatch, etagOf } from '../../lib/etag.js'
import { slugify } from '../../lib/slug.js'
import { AppError, invalidField } from '../../errors.js'
import { Coalescer, type CoalescerOptions } from '../../writes/coalescer.js'
import {
  type AuditedChange,
  created,
  deleted,
  mutate,
  mutateMany,
  updated,
  type WriteContext
} from '../../writes/mutation.js'
import { descendantIds } from '../categories/repository.js'
import * as repo from './repository.js'
import { insertNewProducts } from './new-products.js'
import { checkMedia, checkOptions, checkVariants, skuTaken, titleOf } from './rules.js'
import type { CreateProduct, CreateVariant, ListProductsQuery, Product, UpdateProduct } from './schemas.js'
import * as variants from './variant-repository.js'
import type { VariantPatchCoalescer } from './variant-service.js'

export interface ProductDeps {
  db: Database
  cursors: CursorCodec
  defaultCurrency: string
  /** The app's coalescers of concurrent writes; without them every write runs alone. */
  creates?: CreateCoalescer
  variantPatches?: VariantPatchCoalescer
}

/**
 * What a reader may see: `public` (anonymous readers and storefront keys) sees active products only, and a
 * product in another status is not found; `all` (editor and admin keys) sees every status.
 */
export type Visibility = 'public' | 'all'

export const productNotFound = (id: number | string) =>
  new AppError('PRODUCT_NOT_FOUND', typeof id === 'number' ? `No product with id ${id}` : `No product with slug ${id}`)

/** Turns constraint violations of a product or variant write into the API's coded errors. */
export function mapWriteError(err: unknown): never {
  if (isUniqueViolation(err, 'product_variants_sku_key')) {
    const sku = /\(sku\)=\((.*)\)/.exec((err as { detail?: string }).detail ?? '')?.[1] ?? 'given'
    throw skuTaken(sku)
  }
  if (isUniqueViolation(err, 'products_slug_key'))
    throw new AppError('SLUG_TAKEN', 'Another product already uses this slug')
  if (isForeignKeyViolation(err, 'products_category_id_fkey')) {
    throw new AppError('UNKNOWN_CATEGORY', 'categoryId does not name an existing category', [
      { field: 'categoryId', message: 'no such category' }
    ])
  }
  throw err
}

/** Rows to API products: the variants of every row in one query. */
export async function withVariants(q: Queryable, rows: repo.ProductRow[]): Promise<Product[]> {
  const byProduct = await variants.variantsOf(
    q,
    rows.map((r) => r.id)
  )
  return rows.map((row) => repo.rowToProduct(row, byProduct.get(row.id) ?? []))
}

const visible = (row: { status: Product['status'] } | undefined, visibility: Visibility) =>
  row !== undefined && (visibility === 'all' || row.status === 'active')

/** A product as reads send it: its document (the Product's JSON text) with the id and version of its ETag. */
export interface ProductDocument {
  id: number
  version: number
  json: string
}

const documentOf = (row: repo.ProductDocumentRow): ProductDocument => ({
  id: row.id,
  version: row.version,
  json: row.doc
})

export async function getProduct({ db }: ProductDeps, id: number, visibility: Visibility): Promise<ProductDocument> {
  const row = await repo.findProductDocument(db.reader(), { id })
  if (!row || !visible(row, visibility)) throw productNotFound(id)
  return documentOf(row)
}

export async function getProductBySlug(
  { db }: ProductDeps,
  slug: string,
  visibility: Visibility
): Promise<ProductDocument> {
  const row = await repo.findProductDocument(db.reader(), { slug })
  if (!row || !visible(row, visibility)) throw productNotFound(slug)
  return documentOf(row)
}

/**
 * One page: one query for the products' documents (plus the category subtree when asked); the items are the
 * products' JSON texts.
 */
export async function listProducts(
  { db, cursors, defaultCurrency }: ProductDeps,
  query: ListProductsQuery,
  visibility: Visibility
): Promise<{ items: string[]; nextCursor: string | null }> {
  if (query.minPrice !== undefined && query.maxPrice !== undefined && query.minPrice > query.maxPrice) {
    throw invalidField('minPrice', 'must not exceed maxPrice')
  }
  if (visibility === 'public' && query.status !== undefined && query.status !== 'active') {
    throw new AppError('FORBIDDEN', `Listing ${query.status} products needs an editor or admin key`)
  }
  const currency = query.currency ?? defaultCurrency
  const scope = `products:${query.sort}${query.sort.endsWith('price') ? `:${currency}` : ''}`
  const after = query.cursor === undefined ? undefined : cursors.decode(scope, query.cursor)
  const reader = db.reader()
  let categoryIds: number[] | undefined
  if (query.categoryId !== undefined) {
    categoryIds = query.includeDescendants ? await descendantIds(reader, query.categoryId) : [query.categoryId]
  }
  const rows = await repo.listProducts(
    reader,
    repo.productFilter(query, {
      status: visibility === 'public' ? 'active' : query.status,
      currency,
      categoryIds
    }),
    query.sort,
    after,
    query.limit
  )
  return toPage(
    rows,
    query.limit,
    (row) => row.doc,
    (row) => cursors.encode(scope, repo.productCursorKey(query.sort, row))
  )
}

/** The variants a create asks for: its `variants`, or the one default variant of the flat fields. */
function requestedVariants(input: CreateProduct): CreateVariant[] {
  const flat = (['sku', 'priceCents', 'currency', 'stock'] as const).filter((f) => input[f] !== undefined)
  if (input.variants) {
    if (flat.length) throw invalidField(flat[0] as string, 'give either variants or the flat default variant fields')
    return input.variants
  }
  if (input.options?.length) throw invalidField('variants', 'a product with options needs its variants')
  if (input.sku === undefined) throw invalidField('sku', 'required unless variants are given')
  if ((input.priceCents === undefined) !== (input.currency === undefined)) {
    throw invalidField(input.priceCents === undefined ? 'priceCents' : 'currency', 'give priceCents with currency')
  }
  const prices =
    input.priceCents === undefined ? [] : [{ currency: input.currency as string, amountCents: input.priceCents }]
  return [{ sku: input.sku, prices, stock: input.stock }]
}

const variantValues = (row: variants.VariantRow) => ({ ...variants.rowToVariant(row), productId: row.product_id })

/** A create as it is written: the product's row values and its variants, checked. */
export interface CreatePlan {
  product: repo.NewProduct
  variants: variants.NewVariant[]
}

/** A create waiting to be written with others (see createCoalescer). */
export interface PendingCreate {
  db: Database
  plan: CreatePlan
  ctx: WriteContext
}

export type CreateCoalescer = Coalescer<PendingCreate, Product>

function planCreate(input: CreateProduct): CreatePlan {
  const options = input.options ?? []
  checkOptions(options)
  const wanted = requestedVariants(input)
  checkVariants(options, wanted)
  checkMedia(input.media ?? [], new Set())
  return {
    product: {
      name: input.name,
      slug: input.slug ?? slugify(`${input.name}-${wanted[0]?.sku ?? ''}`),
      description: input.description ?? '',
      category_id: input.categoryId ?? null,
      status: input.status ?? 'draft',
      tags: input.tags ?? [],
      options
    },
    variants: wanted.map((v, position) => ({
      sku: v.sku,
      title: v.title ?? titleOf(v.optionValues ?? []),
      optionValues: v.optionValues ?? [],
      prices: v.prices,
      compareAtPrices: v.compareAtPrices ?? null,
      stock: v.stock ?? 0,
      barcode: v.barcode ?? null,
      weightGrams: v.weightGrams ?? null,
      position
    }))
  }
}

/** The audited change of a created product: its entry, then one per variant and per image. */
function createdProduct(row: repo.ProductRow, variantRows: variants.VariantRow[]): AuditedChange<Product> {
  const product = repo.rowToProduct(row, variantRows)
  const also: AuditedChange<unknown>[] = [
    ...variantRows.map((v) => created('variant', variantValues(v))),
    ...product.media.map((m) => created('media', { ...m, productId: row.id }))
  ]
  return { ...created('product', repo.rowToProductFields(row)), value: product, also }
}

/**
 * Creates a product with its variants and media. With a coalescer in `deps`, a create without media may be written in one transaction with other creates (coalescer.ts); its answer is the same.
 */
export async function createProduct(deps: ProductDeps, input: CreateProduct, ctx: WriteContext): Promise<Product> {
  const plan = planCreate(input)
  if (deps.creates && !input.media?.length) return deps.creates.submit({ db: deps.db, plan, ctx })
  return createOne(deps.db, plan, input.media, ctx)
}

async function createOne(
  db: Database,
  plan: CreatePlan,
  media: CreateProduct['media'],
  ctx: WriteContext
): Promise<Product> {
  try {
    return await mutate(db, ctx, async (tx) => {
      const inserted = await repo.insertProductWithVariants(tx, plan.product, plan.variants)
      const row = media?.length
        ? await repo.replaceMedia(tx, inserted.id, mediaValues(media), { bump: false })
        : inserted
      return createdProduct(row, inserted.variants)
    })
  } catch (err) {
    mapWriteError(err)
  }
}

/** The coalescer of an app's creates: `inFlight` transactions at a time, at most `maxBatch` creates in one. */
export const createCoalescer = (
  options: Pick<CoalescerOptions<unknown, unknown>, 'inFlight' | 'maxBatch' | 'maxWait' | 'observe'>
): CreateCoalescer =>
  new Coalescer({
    ...options,
    single: (p) => createOne(p.db, p.plan, undefined, p.ctx),
    batch: (pending) =>
      mutateMany(pending, async (tx) => {
        const rows = await insertNewProducts(
          tx,
          pending.map((p) => p.plan)
        )
        return rows.map((row) => createdProduct(row, row.variants))
      })
  })

export const mediaValues = (media: CreateProduct['media'] & object) =>
  media.map((m) => ({
    url: m.url,
    alt: m.alt ?? '',
    width: m.width ?? null,
    height: m.height ?? null,
    variantIds: m.variantIds ?? []
  }))

export async function updateProduct(
  { db }: ProductDeps,
  id: number,
  patch: UpdateProduct,
  ifMatch: string | undefined,
  ctx: WriteContext
): Promise<Product> {
  try {
    return await mutate(db, ctx, async (tx) => {
      const current = await lockProduct(tx, id, ifMatch)
      const row = await repo.updateProduct(tx, id, patch)
      const change = updated('product', repo.rowToProductFields(current), repo.rowToProductFields(row))
      return { ...change, value: (await withVariants(tx, [row]))[0] as Product }
    })
  } catch (err) {
    mapWriteError(err)
  }
}

/** Locks the product row for this transaction; with If-Match, only at the version it names. */
export async function lockProduct(tx: Queryable, id: number, ifMatch?: string): Promise<repo.ProductRow> {
  const current = await repo.findProductById(tx, id, { forUpdate: true })
  if (!current) throw productNotFound(id)
  assertIfMatch(ifMatch, etagOf(current.id, current.version))
  return current
}

export async function deleteProduct(
  { db }: ProductDeps,
  id: number,
  ifMatch: string | undefined,
  ctx: WriteContext
): Promise<void> {
  await mutate(db, ctx, async (tx) => {
    const current = await lockProduct(tx, id, ifMatch)
    await repo.deleteProduct(tx, id)
    return deleted('product', repo.rowToProductFields(current))
  })
}
