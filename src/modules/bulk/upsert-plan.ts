import { AppError, type FieldError } from '../../errors.js'
import type { NewProductFields } from '../products/derived-rows.js'
import type { ProductRow } from '../products/repository.js'
import { checkOptions, checkVariants, titleOf } from '../products/rules.js'
import { type NewVariant, variantFieldsOf } from '../products/variant-repository.js'
import type { ImportProduct } from './schemas.js'

/** What an imported product asks of the catalog, decided in memory against what exists (see upsert.ts). */
export interface Candidate {
  line: number
  slug: string
  input: ImportProduct
}

export type Outcome =
  | { kind: 'created' | 'updated'; productId: number }
  | { kind: 'unchanged'; productId: number }
  | { kind: 'failed'; error: AppError }

export interface DesiredVariant extends NewVariant {
  id: number | undefined
}
export interface DesiredMedia {
  url: string
  alt: string
  width: number | null
  height: number | null
  skus: string[]
}
export interface Plan {
  index: number
  existing: ProductRow | undefined
  fields: NewProductFields
  variants: DesiredVariant[]
  /** undefined: the media stay as they are. */
  media: DesiredMedia[] | undefined
  productChanged: boolean
  insertVariants: DesiredVariant[]
  updateVariants: DesiredVariant[]
  deleteVariantIds: number[]
}

export const fail = (field: string, message: string, code: 'VALIDATION_FAILED' | 'SKU_TAKEN' = 'VALIDATION_FAILED') =>
  new AppError(code, `${field}: ${message}`, [{ field, message }])

/**
 * Whether two JSON values are equal as their canonical JSON is (key order and undefined properties do not count; an
 * undefined array element is null), without building the strings: a re-import compares every field of every row.
 */
export function same(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') {
    return a === undefined || b === undefined ? (a ?? null) === (b ?? null) : false
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) {
    const other = b as unknown[]
    if (a.length !== other.length) return false
    for (let i = 0; i < a.length; i++) if (!same(a[i] ?? null, other[i] ?? null)) return false
    return true
  }
  const x = a as Record<string, unknown>
  const y = b as Record<string, unknown>
  let defined = 0
  for (const key in x) {
    if (x[key] === undefined) continue
    defined++
    if (!Object.hasOwn(y, key) || y[key] === undefined || !same(x[key], y[key])) return false
  }
  for (const key in y) if (y[key] !== undefined) defined--
  return defined === 0
}

/** What the file asks for this product, given what exists: absent product fields keep their current values. */
export function planOf(index: number, c: Candidate, existing: ProductRow | undefined): Plan {
  const { input } = c
  const current = new Map((existing?.variants ?? []).map((v) => [v.sku, v]))
  const options = input.options ?? existing?.options ?? []
  checkOptions(options)
  checkVariants(options, input.variants)
  const variants: DesiredVariant[] = input.variants.map((v, position) => {
    const was = current.get(v.sku)
    const optionValues = v.optionValues ?? []
    return {
      id: was?.id,
      sku: v.sku,
      title: v.title ?? titleOf(optionValues),
      optionValues,
      prices: v.prices,
      compareAtPrices: v.compareAtPrices !== undefined ? v.compareAtPrices : (was?.compare_at_prices ?? null),
      stock: v.stock ?? was?.stock ?? 0,
      barcode: v.barcode !== undefined ? v.barcode : (was?.barcode ?? null),
      weightGrams: v.weightGrams !== undefined ? v.weightGrams : (was?.weight_grams ?? null),
      position
    }
  })
  // Media name variants by SKU, or by the ids of this line's own variants (an exported line read back).
  let media: DesiredMedia[] | undefined
  if (input.media) {
    const skuOfLineId = new Map(input.variants.filter((v) => v.id !== undefined).map((v) => [v.id, v.sku]))
    const skus = new Set(variants.map((v) => v.sku))
    const errors: FieldError[] = []
    media = input.media.map((m, i) => {
      const named = [...(m.variantSkus ?? [])]
      for (const id of m.variantIds ?? []) {
        const sku = skuOfLineId.get(id)
        if (sku === undefined)
          errors.push({ field: `media[${i}].variantIds`, message: `${id} is not a variant of this line` })
        else if (!named.includes(sku)) named.push(sku)
      }
      for (const sku of named)
        if (!skus.has(sku))
          errors.push({ field: `media[${i}].variantSkus`, message: `${sku} is not a variant of this product` })
      return { url: m.url, alt: m.alt ?? '', width: m.width ?? null, height: m.height ?? null, skus: named }
    })
    if (errors.length)
      throw new AppError('VALIDATION_FAILED', errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors)
  }
  const fields = {
    name: input.name,
    slug: c.slug,
    description: input.description ?? existing?.description ?? '',
    categoryId: input.categoryId !== undefined ? input.categoryId : (existing?.category_id ?? null),
    status: input.status ?? existing?.status ?? 'draft',
    tags: input.tags ?? existing?.tags ?? [],
    options
  }
  const plan: Plan = {
    index,
    existing,
    fields,
    variants,
    media,
    productChanged: true,
    insertVariants: variants.filter((v) => v.id === undefined),
    updateVariants: [],
    deleteVariantIds: []
  }
  if (!existing) return plan
  const desiredSkus = new Set(variants.map((v) => v.sku))
  plan.deleteVariantIds = (existing.variants ?? []).filter((v) => !desiredSkus.has(v.sku)).map((v) => v.id)
  plan.updateVariants = variants.filter((v) => {
    const was = v.id === undefined ? undefined : current.get(v.sku)
    return was !== undefined && !same(variantFieldsOf(was), variantFieldsOf(v))
  })
  if (media && same(media, mediaOf(existing))) plan.media = undefined
  plan.productChanged =
    plan.media !== undefined ||
    !same(fields, {
      name: existing.name,
      slug: existing.slug,
      description: existing.description,
      categoryId: existing.category_id,
      status: existing.status,
      tags: existing.tags,
      options: existing.options
    })
  return plan
}

/** A stored product's media in the import's terms (variant ids as SKUs). */
function mediaOf(row: ProductRow): DesiredMedia[] {
  const skuOf = new Map((row.variants ?? []).map((v) => [v.id, v.sku]))
  return row.media.map((m) => ({
    url: m.url,
    alt: m.alt,
    width: m.width,
    height: m.height,
    skus: m.variantIds.map((id) => skuOf.get(id) ?? String(id))
  }))
}

export const touched = (p: Plan) =>
  !p.existing ||
  p.productChanged ||
  p.insertVariants.length > 0 ||
  p.updateVariants.length > 0 ||
  p.deleteVariantIds.length > 0
