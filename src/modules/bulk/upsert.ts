import { atBegin, type Queryable } from '../../db/pool.js'
import { AppError } from '../../errors.js'
import { appendEntries, appendEntriesAfter, type NewEntry } from '../../writes/audit-log.js'
import { changedFields, type WriteContext } from '../../writes/mutation.js'
import { findProductsBySlug } from '../products/repository.js'
import { skuTaken } from '../products/rules.js'
import type { Media } from '../products/schemas.js'
import type { CreatedProduct } from '../products/derived-rows.js'
import {
  allocateIds,
  INSERT_PRODUCTS,
  INSERT_VARIANTS,
  newProductsCtes,
  OPTION_VALUES,
  PRODUCT_RECORD,
  productJson,
  VARIANT_RECORD,
  variantJson
} from '../products/new-products.js'
import { type Candidate, fail, type Outcome, type Plan, planOf, touched } from './upsert-plan.js'
import { variantFieldsOf } from '../products/variant-repository.js'

export type { Candidate, Outcome } from './upsert-plan.js'

// A batch of imported products upserted by slug (and their variants by SKU) in a few set-based statements on the
// caller's transaction: read and lock what exists, decide per product (upsert-plan.ts), then one INSERT or UPDATE per
// table for the whole batch and one multi-row append of the audit entries (one per product created or changed).

/** Which of the batch's SKUs exist and on which product, and which of its categories exist: one round trip. */
async function lookups(q: Queryable, candidates: Candidate[]) {
  const skus = candidates.flatMap((c) => c.input.variants.map((v) => v.sku))
  const categories = [
    ...new Set(candidates.map((c) => c.input.categoryId).filter((id): id is number => typeof id === 'number'))
  ]
  const { rows } = await q.query<{ owners: Record<string, number> | null; categories: number[] | null }>(
    `SELECT (SELECT json_object_agg(sku, product_id) FROM product_variants WHERE sku = ANY($1::text[])) AS owners,
            (SELECT array_agg(id) FROM categories WHERE id = ANY($2::integer[])) AS categories`,
    [skus, categories]
  )
  return { owners: new Map(Object.entries(rows[0]?.owners ?? {})), categories: new Set(rows[0]?.categories ?? []) }
}

/**
 * Upserts the batch; failed rows are reported, not thrown. A statement that fails (a concurrent writer took a
 * SKU) throws: the caller rolls the batch back and runs its rows one at a time. With dryRun nothing is written.
 */
export async function upsertBatch(
  tx: Queryable,
  candidates: Candidate[],
  ctx: WriteContext,
  opts: { dryRun: boolean }
): Promise<Outcome[]> {
  const outcomes = new Array<Outcome>(candidates.length)
  // A catalog being filled has no planner statistics yet: the estimates of these statements grow past jit_above_cost,
  // and compiling them cost ~98 of the 107 ms a 500-slug lookup took; and the batch's 2,000 SKUs were looked up by
  // reading every variant, a scan per batch that grew with the catalog. Every table here is reached by key
  // (docs/architecture.md, bulk import).
  await atBegin(tx, 'SET LOCAL jit = off; SET LOCAL enable_seqscan = off')
  const existing = new Map(
    (
      await findProductsBySlug(
        tx,
        candidates.map((c) => c.slug),
        { forUpdate: !opts.dryRun }
      )
    ).map((r) => [r.slug, r])
  )
  const { owners, categories } = await lookups(tx, candidates)
  const plans: WrittenPlan[] = []
  const claimed = new Map<string, number>()
  const slugs = new Set<string>()
  candidates.forEach((c, index) => {
    try {
      if (slugs.has(c.slug)) throw fail('slug', `${c.slug} appears twice in the same batch of rows`)
      slugs.add(c.slug)
      const row = existing.get(c.slug)
      if (typeof c.input.categoryId === 'number' && !categories.has(c.input.categoryId)) {
        throw new AppError('UNKNOWN_CATEGORY', `categoryId ${c.input.categoryId} does not name an existing category`, [
          { field: 'categoryId', message: 'no such category' }
        ])
      }
      c.input.variants.forEach((v, i) => {
        const owner = owners.get(v.sku) ?? claimed.get(v.sku)
        if (owner !== undefined && owner !== (row?.id ?? -1 - index)) throw skuTaken(v.sku, `variants[${i}].sku`)
      })
      const plan = planOf(index, c, row)
      for (const v of c.input.variants) claimed.set(v.sku, row?.id ?? -1 - index)
      if (touched(plan)) plans.push(plan)
      else outcomes[index] = { kind: 'unchanged', productId: row?.id as number }
    } catch (err) {
      if (!(err instanceof AppError)) throw err
      outcomes[index] = { kind: 'failed', error: err }
    }
  })
  if (opts.dryRun) {
    for (const p of plans)
      outcomes[p.index] = { kind: p.existing ? 'updated' : 'created', productId: p.existing?.id ?? 0 }
    return outcomes
  }
  if (!plans.length) return outcomes
  await write(tx, plans, ctx)
  for (const p of plans)
    outcomes[p.index] = { kind: p.existing ? 'updated' : 'created', productId: p.productId as number }
  return outcomes
}

type WrittenPlan = Plan & { productId?: number }

async function write(tx: Queryable, plans: WrittenPlan[], ctx: WriteContext): Promise<void> {
  const creates = plans.filter((p) => !p.existing)
  const mediaCount = plans.reduce((n, p) => n + (p.media?.length ?? 0), 0)
  // A batch that only creates products writes their documents and price rows itself (derived-rows.ts); one that
  // changes existing products leaves all of them to the triggers, which read the products as they now are.
  const writesDerived = creates.length === plans.length
  const ids = await allocateIds(
    tx,
    {
      products: creates.length,
      variants: plans.reduce((n, p) => n + p.insertVariants.length, 0),
      media: mediaCount
    },
    writesDerived
  )
  for (const p of plans) {
    p.productId = p.existing?.id ?? ids.product()
    for (const v of p.insertVariants) v.id = ids.variant()
  }
  const mediaJson = new Map<WrittenPlan, Media[]>()
  for (const p of plans) {
    if (!p.media) continue
    const idOf = new Map(p.variants.map((v) => [v.sku, v.id as number]))
    mediaJson.set(
      p,
      p.media.map((m) => ({
        id: ids.media(),
        url: m.url,
        alt: m.alt,
        width: m.width,
        height: m.height,
        variantIds: m.skus.map((s) => idOf.get(s) as number)
      }))
    )
  }
  const recordOf = (p: WrittenPlan) => productJson(p.productId as number, p.fields, mediaJson.get(p) ?? null)
  const entries = plans.map((p) => entryOf(p, mediaJson.get(p), ctx))
  if (writesDerived) {
    // Only new products: the products, their variants, documents, price rows and audit entries in one statement
    // instead of four (measured in docs/architecture.md, bulk import). The variants' check of their products runs at
    // the statement's end and sees the products written beside them.
    const { ctes, params } = newProductsCtes(
      creates.map((p) => ({
        id: p.productId as number,
        ...p.fields,
        variants: p.variants as CreatedProduct['variants'],
        media: mediaJson.get(p) ?? []
      })),
      ids.at
    )
    const append = appendEntriesAfter(ctes, params.length, entries)
    await tx.query(append.sql, [...params, ...append.params])
    return
  }
  if (creates.length) await tx.query(INSERT_PRODUCTS('$1'), [JSON.stringify(creates.map(recordOf))])
  const deletes = plans.flatMap((p) => p.deleteVariantIds)
  if (deletes.length) await tx.query('DELETE FROM product_variants WHERE id = ANY($1::integer[])', [deletes])
  const changed = plans.flatMap((p) => p.updateVariants.map((v) => variantJson(p.productId as number, v)))
  if (changed.length) {
    await tx.query(
      `UPDATE product_variants SET title = v.title, option_values = ${OPTION_VALUES}, prices = v.prices,
              compare_at_prices = v.compare_at_prices, stock = v.stock, barcode = v.barcode,
              weight_grams = v.weight_grams, position = v.position, version = product_variants.version + 1,
              updated_at = now()
         FROM jsonb_to_recordset($1::jsonb) AS ${VARIANT_RECORD}
        WHERE product_variants.id = v.id`,
      [JSON.stringify(changed)]
    )
  }
  const inserted = plans.flatMap((p) => p.insertVariants.map((v) => variantJson(p.productId as number, v)))
  if (inserted.length) await tx.query(INSERT_VARIANTS('$1'), [JSON.stringify(inserted)])
  const updates = plans.filter((p) => p.existing)
  if (updates.length) {
    // A change below the product (a variant) moves its version too, as the API's variant writes do. After the
    // variants' statements: its trigger writes the product's document once, from the variants as they now are.
    await tx.query(
      `UPDATE products SET name = p.name, description = p.description, category_id = p.category_id,
              status = p.status, tags = ARRAY(SELECT jsonb_array_elements_text(p.tags)), options = p.options,
              media = coalesce(p.media, products.media), version = products.version + 1, updated_at = now()
         FROM jsonb_to_recordset($1::jsonb) AS ${PRODUCT_RECORD}
        WHERE products.id = p.id`,
      [JSON.stringify(updates.map(recordOf))]
    )
  }
  await appendEntries(tx, entries)
}

/** One audit entry per product: its fields with its variants, before and after. */
function entryOf(p: WrittenPlan, media: Media[] | undefined, ctx: WriteContext): NewEntry {
  const id = p.productId as number
  const before = p.existing
  const oldValues = before
    ? {
        id,
        name: before.name,
        slug: before.slug,
        description: before.description,
        categoryId: before.category_id,
        status: before.status,
        tags: before.tags,
        options: before.options,
        media: before.media,
        version: before.version,
        variants: (before.variants ?? []).map((v) => ({ id: v.id, ...variantFieldsOf(v) }))
      }
    : null
  const newValues = {
    id,
    ...p.fields,
    media: media ?? before?.media ?? [],
    version: before ? before.version + 1 : 1,
    variants: p.variants.map((v) => ({ id: v.id, ...variantFieldsOf(v) }))
  }
  return {
    action: before ? 'update' : 'create',
    entityType: 'product',
    entityId: id,
    actor: ctx.actor,
    ip: ctx.ip,
    userAgent: ctx.userAgent,
    requestId: ctx.requestId,
    oldValues,
    newValues,
    changedFields: changedFields(oldValues, newValues)
  }
}
