import { AppError, type FieldError, invalidField } from '../../errors.js'
import type { CreateVariant, MediaInput, Price, ProductOption } from './schemas.js'

/** Checks the schema cannot express: each a 4xx naming the field, before anything is written. */

export function checkPrices(field: string, prices: Price[] | null | undefined): void {
  if (!prices) return
  const seen = new Set<string>()
  for (const [i, price] of prices.entries()) {
    if (seen.has(price.currency)) throw invalidField(`${field}[${i}].currency`, `a second price in ${price.currency}`)
    seen.add(price.currency)
  }
}

/** GS1 check digit of a GTIN-8, -12, -13 or -14. */
export function isValidGtin(code: string): boolean {
  if (![8, 12, 13, 14].includes(code.length)) return false
  const digits = [...code].map(Number)
  const check = digits.pop() as number
  const sum = digits.reverse().reduce((acc, d, i) => acc + d * (i % 2 === 0 ? 3 : 1), 0)
  return (10 - (sum % 10)) % 10 === check
}

export function checkBarcode(field: string, barcode: string | null | undefined): void {
  if (barcode && /^\d+$/.test(barcode) && !isValidGtin(barcode)) {
    throw invalidField(field, 'a numeric barcode must be a GTIN-8, -12, -13 or -14 with a valid check digit')
  }
}

/** The fields of one variant the schema cannot check: one price per currency, a valid GTIN. */
export function checkVariantFields(
  variant: Pick<CreateVariant, 'compareAtPrices' | 'barcode'> & { prices?: Price[] },
  prefix = ''
): void {
  checkPrices(`${prefix}prices`, variant.prices)
  checkPrices(`${prefix}compareAtPrices`, variant.compareAtPrices)
  checkBarcode(`${prefix}barcode`, variant.barcode)
}

export function checkOptions(options: ProductOption[]): void {
  const names = new Set<string>()
  for (const [i, option] of options.entries()) {
    const name = option.name.trim().toLowerCase()
    if (names.has(name)) throw invalidField(`options[${i}].name`, `a second option named ${option.name}`)
    names.add(name)
  }
}

const optionValuesError = (field: string, message: string) =>
  new AppError('INVALID_OPTION_VALUES', `${field}: ${message}`, [{ field, message }])

/** A variant's option values: one per option, each among that option's values. */
export function checkOptionValues(field: string, options: ProductOption[], values: string[]): void {
  if (values.length !== options.length) {
    throw optionValuesError(
      field,
      options.length === 0
        ? 'the product has no options: give no option values'
        : `give one value for each option (${options.map((o) => o.name).join(', ')})`
    )
  }
  for (const [i, value] of values.entries()) {
    const option = options[i] as ProductOption
    if (!option.values.includes(value)) {
      throw optionValuesError(
        `${field}[${i}]`,
        `${value} is not a value of ${option.name} (${option.values.join(', ')})`
      )
    }
  }
}

export const combinationKey = (values: string[]) => JSON.stringify(values)

/** A product's variants as created together: option values fit, combinations and SKUs differ. */
export function checkVariants(options: ProductOption[], variants: CreateVariant[]): void {
  const combinations = new Set<string>()
  const skus = new Set<string>()
  for (const [i, variant] of variants.entries()) {
    const field = `variants[${i}]`
    checkVariantFields(variant, `${field}.`)
    const values = variant.optionValues ?? []
    checkOptionValues(`${field}.optionValues`, options, values)
    const key = combinationKey(values)
    if (combinations.has(key)) {
      throw optionValuesError(
        `${field}.optionValues`,
        `another variant already has ${values.join(' / ') || 'no options'}`
      )
    }
    combinations.add(key)
    if (skus.has(variant.sku)) throw skuTaken(variant.sku, `${field}.sku`)
    skus.add(variant.sku)
  }
}

export const skuTaken = (sku: string, field = 'sku') =>
  new AppError('SKU_TAKEN', `The SKU ${sku} is already used by another variant`, [
    { field, message: `${sku} is taken` }
  ])

/** Media may name only variants of their product. */
export function checkMedia(media: MediaInput[], variantIds: Set<number>): void {
  const errors: FieldError[] = []
  for (const [i, item] of media.entries()) {
    for (const id of item.variantIds ?? []) {
      if (!variantIds.has(id))
        errors.push({ field: `media[${i}].variantIds`, message: `${id} is not a variant of this product` })
    }
  }
  if (errors.length)
    throw new AppError('VALIDATION_FAILED', errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors)
}

export const titleOf = (values: string[]) => (values.length ? values.join(' / ') : 'Default')
