import { assertIfMatch, etagOf, ifMatchHolds } from '../../lib/etag.js'
import { AppError } from '../../errors.js'
import type { Database } from '../../db/database.js'
import { atBegin, beforeCommit } from '../../db/pool.js'
import { Coalescer, type CoalescerOptions, RunAlone } from '../../writes/coalescer.js'
import { created, deleted, mutate, mutateMany, updated, type WriteContext } from '../../writes/mutation.js'
import { addPriceRows, documentOfRows, noPriceRows, sameRanges } from './derived-rows.js'
import * as repo from './repository.js'
import { checkMedia, checkOptionValues, checkVariantFields, combinationKey, titleOf } from './rules.js'
import type { CreateVariant, Product, ReplaceMedia, StockAdjustment, UpdateVariant, Variant } from './schemas.js'
import { MAX_VARIANTS } from './schemas.js'
import { lockProduct, mapWriteError, mediaValues, type ProductDeps, withVariants } from './service.js'
import * as variants from './variant-repository.js'

const variantNotFound = (productId: number, id: number) =>
  new AppError('VARIANT_NOT_FOUND', `Product ${productId} has no variant ${id}`)

const audited = (row: variants.VariantRow) => ({ ...variants.rowToVariant(row), productId: row.product_id })

/** No other variant of the product has this combination of option values. */
async function assertCombinationFree(
  siblings: variants.VariantRow[],
  values: string[],
  exceptId: number | null
): Promise<void> {
  const key = combinationKey(values)
  if (siblings.some((v) => v.id !== exceptId && combinationKey(v.option_values) === key)) {
    throw new AppError('INVALID_OPTION_VALUES', 'optionValues: another variant already has this combination', [
      { field: 'optionValues', message: `another variant already has ${values.join(' / ') || 'no options'}` }
    ])
  }
}

/** Adds a variant (If-Match: the product's ETag). */
export async function createVariant(
  { db }: ProductDeps,
  productId: number,
  input: CreateVariant,
  ifMatch: string | undefined,
  ctx: WriteContext
): Promise<Variant> {
  checkVariantFields(input)
  try {
    return await mutate(db, ctx, async (tx) => {
      const product = await lockProduct(tx, productId, ifMatch)
      const values = input.optionValues ?? []
      checkOptionValues('optionValues', product.options, values)
      const siblings = (await variants.variantsOf(tx, [productId])).get(productId) ?? []
      if (siblings.length >= MAX_VARIANTS) {
        throw new AppError('VALIDATION_FAILED', `A product has at most ${MAX_VARIANTS} variants`, [
          { field: 'variants', message: `at most ${MAX_VARIANTS}` }
        ])
      }
      await assertCombinationFree(siblings, values, null)
      const [row] = await variants.insertVariants(tx, productId, [
        {
          sku: input.sku,
          title: input.title ?? titleOf(values),
          optionValues: values,
          prices: input.prices,
          compareAtPrices: input.compareAtPrices ?? null,
          stock: input.stock ?? 0,
          barcode: input.barcode ?? null,
          weightGrams: input.weightGrams ?? null,
          position: Math.max(-1, ...siblings.map((v) => v.position)) + 1
        }
      ])
      await repo.touchProduct(tx, productId)
      const change = created('variant', audited(row as variants.VariantRow))
      return { ...change, value: variants.rowToVariant(row as variants.VariantRow) }
    })
  } catch (err) {
    mapWriteError(err)
  }
}

/** Locks product and variant (in that order, as every variant write does) and checks If-Match on the variant. */
async function lockVariant(tx: Parameters<typeof repo.findProductById>[0], productId: number, id: number) {
  const product = await lockProduct(tx, productId)
  const variant = await variants.findVariant(tx, productId, id, { forUpdate: true })
  if (!variant) throw variantNotFound(productId, id)
  return { product, variant }
}

/**
 * Tells the variants' and products' update triggers that this transaction writes the documents and price rows of
 * the products it changes itself (migration 018).
 */
const WRITES_DERIVED_ROWS = "SELECT set_config('catalog.derived_updates', 'written', true)"

/** A variant PATCH waiting to be written with others (see variantPatchCoalescer). */
export interface PendingVariantPatch {
  db: Database
  productId: number
  id: number
  patch: UpdateVariant
  ifMatch: string | undefined
  ctx: WriteContext
}

export type VariantPatchCoalescer = Coalescer<PendingVariantPatch, Variant>

/**
 * Changes a variant (If-Match: the variant's ETag); `stock` is absolute here. With a coalescer in `deps`, a PATCH
 * that leaves optionValues alone may be written in one transaction with others
 * (writes/coalescer.ts); its answer is the same.
 */
export async function updateVariant(
  deps: ProductDeps,
  productId: number,
  id: number,
  patch: UpdateVariant,
  ifMatch: string | undefined,
  ctx: WriteContext
): Promise<Variant> {
  checkVariantFields(patch)
  const pending = { db: deps.db, productId, id, patch, ifMatch, ctx }
  if (deps.variantPatches && patch.optionValues === undefined) {
    return deps.variantPatches.submit(pending)
  }
  return updateOne(pending)
}

async function updateOne({ db, productId, id, patch, ifMatch, ctx }: PendingVariantPatch): Promise<Variant> {
  try {
    return await mutate(db, ctx, async (tx) => {
      const { product, variant } = await lockVariant(tx, productId, id)
      assertIfMatch(ifMatch, etagOf(variant.id, variant.version))
      if (patch.optionValues) {
        checkOptionValues('optionValues', product.options, patch.optionValues)
        const siblings = (await variants.variantsOf(tx, [productId])).get(productId) ?? []
        await assertCombinationFree(siblings, patch.optionValues, id)
      }
      const row = await variants.updateVariant(tx, id, patch)
      await repo.touchProduct(tx, productId)
      return { ...updated('variant', audited(variant), audited(row)), value: variants.rowToVariant(row) }
    })
  } catch (err) {
    mapWriteError(err)
  }
}

/**
 * PATCHes in one transaction on the primary: products then variants locked in id order, every If-Match checked,
 * one statement that updates the variants and moves their products' versions, then the products' documents and price
 * rows, built here from the rows the two statements return (the transaction tells the triggers so: migration 018). A
 * PATCH that would not succeed (a stale or missing If-Match, a variant not found, the same variant twice) makes the
 * batch run each alone.
 */
async function updateMany(pending: PendingVariantPatch[]): Promise<Variant[]> {
  if (new Set(pending.map((p) => p.id)).size !== pending.length) throw new RunAlone('a variant is patched twice')
  return mutateMany(pending, async (tx) => {
    await atBegin(tx, WRITES_DERIVED_ROWS)
    const before = await variants.lockVariants(tx, pending)
    for (const p of pending) {
      const row = before.get(p.id)
      if (row?.product_id !== p.productId) throw new RunAlone(`variant ${p.id} of product ${p.productId} not found`)
      if (!ifMatchHolds(p.ifMatch, etagOf(row.id, row.version))) {
        throw new RunAlone(`If-Match of variant ${p.id} does not hold`)
      }
    }
    const touched = new Map<number, number>()
    for (const p of pending) touched.set(p.productId, (touched.get(p.productId) ?? 0) + 1)
    const rows = await variants.updateVariants(
      tx,
      pending.map((p) => ({ id: p.id, patch: p.patch })),
      touched
    )
    const after = new Map<number, variants.VariantRow>()
    const variantsOf = new Map<number, typeof rows>()
    for (const row of rows) {
      if (row.patched) after.set(row.id, row)
      const all = variantsOf.get(row.product_id)
      if (all) all.push(row)
      else variantsOf.set(row.product_id, [row])
    }
    // In the COMMIT's round trip, before the audit entries: the products' documents and price rows as their rows and
    // their variants now stand.
    const documents = new Map<number, string>()
    const prices = noPriceRows()
    const repriced: number[] = []
    for (const p of pending) {
      if (documents.has(p.productId)) continue
      const locked = (before.get(p.id) as variants.LockedVariant).product
      const now = (variantsOf.get(p.productId) ?? []).sort((a, b) => a.position - b.position || a.id - b.id)
      const product = {
        ...locked,
        version: locked.version + (touched.get(p.productId) ?? 0),
        // The transaction's time, as the variants' and the product's updated_at hold it.
        updated_at: (after.get(p.id) as variants.VariantRow).updated_at
      }
      const ranges = repo.priceRangeOf(now)
      documents.set(p.productId, documentOfRows(product, now, ranges))
      const was = repo.priceRangeOf(now.map((v) => (v.patched ? (before.get(v.id) as variants.VariantRow) : v)))
      if (!sameRanges(was, ranges)) {
        repriced.push(p.productId)
        addPriceRows(prices, { id: p.productId, status: locked.status, categoryId: locked.category_id }, ranges)
      }
    }
    beforeCommit(tx, repo.storeDocumentsSql(documents))
    if (repriced.length) beforeCommit(tx, repo.replacePricesSql(repriced, prices))
    return pending.map((p) => {
      const old = before.get(p.id) as variants.LockedVariant
      const row = after.get(p.id) as variants.VariantRow
      const { product: _, ...oldRow } = old
      return { ...updated('variant', audited(oldRow), audited(row)), value: variants.rowToVariant(row) }
    })
  })
}

/** The coalescer of an app's variant PATCHes (see createCoalescer in service.ts). */
export const variantPatchCoalescer = (
  options: Pick<CoalescerOptions<unknown, unknown>, 'inFlight' | 'maxBatch' | 'maxWait' | 'observe'>
): VariantPatchCoalescer => new Coalescer({ ...options, single: updateOne, batch: updateMany })

/** Removes a variant (If-Match: the variant's ETag); a product keeps at least one. */
export async function deleteVariant(
  { db }: ProductDeps,
  productId: number,
  id: number,
  ifMatch: string | undefined,
  ctx: WriteContext
): Promise<void> {
  await mutate(db, ctx, async (tx) => {
    const { variant } = await lockVariant(tx, productId, id)
    assertIfMatch(ifMatch, etagOf(variant.id, variant.version))
    if ((await variants.countVariants(tx, productId)) <= 1) {
      throw new AppError(
        'LAST_VARIANT',
        `Variant ${id} is the last variant of product ${productId}; delete the product`
      )
    }
    await variants.deleteVariant(tx, id)
    await repo.touchProduct(tx, productId)
    return deleted('variant', audited(variant))
  })
}

/** Adds or takes stock atomically: never below 0 (409 INSUFFICIENT_STOCK, nothing changed). */
export async function adjustStock(
  { db }: ProductDeps,
  productId: number,
  id: number,
  adjustment: StockAdjustment,
  ifMatch: string | undefined,
  ctx: WriteContext
): Promise<Variant> {
  return mutate(db, ctx, async (tx) => {
    const { variant } = await lockVariant(tx, productId, id)
    assertIfMatch(ifMatch, etagOf(variant.id, variant.version))
    const row = await variants.adjustStock(tx, productId, id, adjustment.delta)
    if (!row) {
      throw new AppError(
        'INSUFFICIENT_STOCK',
        `Variant ${id} has ${variant.stock} in stock; ${adjustment.delta} would take it below 0`,
        [{ field: 'delta', message: `only ${variant.stock} in stock` }],
        undefined,
        { stock: variant.stock }
      )
    }
    await repo.touchProduct(tx, productId)
    const change = updated('variant', audited(variant), { ...audited(row), stockAdjustment: adjustment })
    return { ...change, value: variants.rowToVariant(row) }
  })
}

/** Replaces the product's ordered media list in one call (If-Match: the product's ETag). */
export async function replaceMedia(
  { db }: ProductDeps,
  productId: number,
  input: ReplaceMedia,
  ifMatch: string | undefined,
  ctx: WriteContext
): Promise<Product> {
  return mutate(db, ctx, async (tx) => {
    const current = await lockProduct(tx, productId, ifMatch)
    const siblings = (await variants.variantsOf(tx, [productId])).get(productId) ?? []
    checkMedia(input.media, new Set(siblings.map((v) => v.id)))
    const row = await repo.replaceMedia(tx, productId, mediaValues(input.media))
    const change = updated('product', repo.rowToProductFields(current), repo.rowToProductFields(row))
    return { ...change, value: repo.rowToProduct(row, siblings) }
  })
}

export { withVariants }
