import type { Database } from '../../db/database.js'
import { toPage } from '../../db/keyset.js'
import { isForeignKeyViolation, isUniqueViolation } from '../../db/errors.js'
import type { CursorCodec } from '../../lib/cursor.js'
import { assertIfMatch, etagOf } from '../../lib/etag.js'
import { slugify } from '../../lib/slug.js'
import { AppError, invalidField } from '../../errors.js'
import { created, deleted, mutate, updated, type WriteContext } from '../../writes/mutation.js'
import { descendantIds } from '../categories/repository.js'
import * as repo from './repository.js'
import type { CreateProduct, ListProductsQuery, Product, UpdateProduct } from './schemas.js'

export interface ProductDeps {
  db: Database
  cursors: CursorCodec
}

const CURRENCIES = new Set(Intl.supportedValuesOf('currency'))

function checkCurrency(currency: string | undefined) {
  if (currency !== undefined && !CURRENCIES.has(currency))
    throw invalidField('currency', 'must be an ISO 4217 currency code')
}

/** Turns constraint violations of a product write into the API's coded errors. */
function mapWriteError(err: unknown): never {
  if (isUniqueViolation(err, 'products_sku_key'))
    throw new AppError('SKU_TAKEN', 'Another product already uses this sku')
  if (isUniqueViolation(err, 'products_slug_key'))
    throw new AppError('SLUG_TAKEN', 'Another product already uses this slug')
  if (isForeignKeyViolation(err, 'products_category_id_fkey')) {
    throw new AppError('UNKNOWN_CATEGORY', 'categoryId does not name an existing category', [
      { field: 'categoryId', message: 'no such category' }
    ])
  }
  throw err
}

export async function getProduct({ db }: ProductDeps, id: number): Promise<Product> {
  const row = await repo.findProductById(db.reader(), id)
  if (!row) throw new AppError('PRODUCT_NOT_FOUND', `No product with id ${id}`)
  return repo.rowToProduct(row)
}

export async function listProducts(
  { db, cursors }: ProductDeps,
  query: ListProductsQuery
): Promise<{ items: Product[]; nextCursor: string | null }> {
  if (query.minPrice !== undefined && query.maxPrice !== undefined && query.minPrice > query.maxPrice) {
    throw invalidField('minPrice', 'must not exceed maxPrice')
  }
  const after = query.cursor === undefined ? undefined : cursors.decode(`products:${query.sort}`, query.cursor)
  const reader = db.reader()
  let categoryIds: number[] | undefined
  if (query.categoryId !== undefined) {
    categoryIds = query.includeDescendants ? await descendantIds(reader, query.categoryId) : [query.categoryId]
  }
  const rows = await repo.listProducts(
    reader,
    { categoryIds, status: query.status, minPrice: query.minPrice, maxPrice: query.maxPrice, q: query.q },
    query.sort,
    after,
    query.limit
  )
  return toPage(rows, query.limit, repo.rowToProduct, (row) =>
    cursors.encode(`products:${query.sort}`, repo.productCursorKey(query.sort, row))
  )
}

export async function createProduct({ db }: ProductDeps, input: CreateProduct, ctx: WriteContext): Promise<Product> {
  checkCurrency(input.currency)
  try {
    return await mutate(db, ctx, async (tx) => {
      const row = await repo.insertProduct(tx, {
        sku: input.sku,
        name: input.name,
        slug: input.slug ?? slugify(`${input.name}-${input.sku}`),
        description: input.description ?? '',
        priceCents: input.priceCents,
        currency: input.currency,
        categoryId: input.categoryId ?? null,
        stock: input.stock ?? 0,
        status: input.status ?? 'draft'
      })
      return created('product', repo.rowToProduct(row))
    })
  } catch (err) {
    mapWriteError(err)
  }
}

export async function updateProduct(
  { db }: ProductDeps,
  id: number,
  patch: UpdateProduct,
  ifMatch: string | undefined,
  ctx: WriteContext
): Promise<Product> {
  checkCurrency(patch.currency)
  try {
    return await mutate(db, ctx, async (tx) => {
      const current = await repo.findProductById(tx, id, { forUpdate: true })
      if (!current) throw new AppError('PRODUCT_NOT_FOUND', `No product with id ${id}`)
      assertIfMatch(ifMatch, etagOf(current.id, current.version))
      return updated('product', repo.rowToProduct(current), repo.rowToProduct(await repo.updateProduct(tx, id, patch)))
    })
  } catch (err) {
    mapWriteError(err)
  }
}

export async function deleteProduct(
  { db }: ProductDeps,
  id: number,
  ifMatch: string | undefined,
  ctx: WriteContext
): Promise<void> {
  await mutate(db, ctx, async (tx) => {
    const current = await repo.findProductById(tx, id, { forUpdate: true })
    if (!current) throw new AppError('PRODUCT_NOT_FOUND', `No product with id ${id}`)
    assertIfMatch(ifMatch, etagOf(current.id, current.version))
    await repo.deleteProduct(tx, id)
    return deleted('product', repo.rowToProduct(current))
  })
}
