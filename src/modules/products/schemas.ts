import { type Static, Type } from 'typebox'
import { Id, Int32, Name, Out, PageQuery, Slug, Text, Timestamp } from '../../lib/schemas.js'

export const ProductStatus = Type.Enum(['draft', 'active', 'archived'], {
  description: 'draft (the default on create), active (visible to everyone) or archived'
})

/** The ISO 4217 codes this runtime knows (ICU's list), the only ones a price may be in. */
export const CURRENCIES: readonly string[] = Intl.supportedValuesOf('currency')

/** Digits after the decimal point of a currency's minor unit (ISO 4217): 2 for USD, 0 for JPY, 3 for KWD. */
export const minorUnits = (currency: string) =>
  new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2

const at = '2026-01-15T09:30:00.000Z'
const size = (id: number, value: string, usd: number, eur: number) => ({
  id,
  sku: `TEE-BLK-${value}`,
  title: value,
  optionValues: [value],
  prices: [
    { currency: 'USD', amountCents: usd },
    { currency: 'EUR', amountCents: eur }
  ],
  compareAtPrices: null,
  stock: 12,
  barcode: null,
  weightGrams: 180,
  position: id - 101,
  version: 1,
  createdAt: at,
  updatedAt: at
})

/** The worked example of the docs: a T-shirt in three sizes, priced in USD and EUR, with two images. */
const T_SHIRT = {
  id: 42,
  name: 'Organic cotton T-shirt',
  slug: 'organic-cotton-t-shirt',
  description: 'Heavyweight organic cotton, black.',
  categoryId: 3,
  status: 'active',
  tags: ['cotton', 'summer'],
  options: [{ name: 'Size', values: ['S', 'M', 'L'] }],
  variants: [size(101, 'S', 1999, 1899), size(102, 'M', 1999, 1899), size(103, 'L', 2499, 2299)],
  media: [
    {
      id: 7,
      url: 'https://cdn.example.com/tee-black-front.jpg',
      alt: 'Front',
      width: 1200,
      height: 1600,
      variantIds: []
    },
    { id: 8, url: 'https://cdn.example.com/tee-black-back.jpg', alt: 'Back', width: 1200, height: 1600, variantIds: [] }
  ],
  priceRange: { USD: { min: 1999, max: 2499 }, EUR: { min: 1899, max: 2299 } },
  version: 1,
  createdAt: at,
  updatedAt: at
}

export const MAX_OPTIONS = 3
export const MAX_OPTION_VALUES = 100
export const MAX_VARIANTS = 100
export const MAX_MEDIA = 50
export const MAX_TAGS = 50

export const Currency = Type.Enum([...CURRENCIES], { description: 'ISO 4217 code, e.g. USD' })

export const PriceSchema = Type.Object(
  {
    currency: Currency,
    amountCents: Int32({
      description:
        'Amount in the currency’s minor unit, an integer: cents for USD and EUR (1999 = 19.99), whole yen for JPY (no minor unit), thousandths for KWD'
    })
  },
  { additionalProperties: false, title: 'Price', example: { currency: 'USD', amountCents: 1999 } }
)
export type Price = Static<typeof PriceSchema>

const Prices = (description: string) =>
  Type.Array(PriceSchema, { maxItems: CURRENCIES.length, description: `${description}; at most one per currency` })

const OptionValue = Type.String({
  minLength: 1,
  maxLength: 100,
  pattern: '^(?=[\\s\\S]*\\S)[^\\u0000\\uD800-\\uDFFF]*$'
})

export const OptionSchema = Type.Object(
  {
    name: Name(100),
    values: Type.Array(OptionValue, { minItems: 1, maxItems: MAX_OPTION_VALUES, uniqueItems: true })
  },
  { additionalProperties: false, title: 'ProductOption', example: { name: 'Size', values: ['S', 'M', 'L'] } }
)
export type ProductOption = Static<typeof OptionSchema>

const Sku = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
  description: 'Stock keeping unit, unique across all variants'
})
const Barcode = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9._-]+$',
  description: 'GTIN (checked: 8, 12, 13 or 14 digits with a valid check digit) when numeric, else any code'
})
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])

export const VariantSchema = Type.Object(
  {
    id: Id,
    sku: Out(64, 'Stock keeping unit, unique across all variants'),
    title: Out(200, 'Its option values joined by " / " unless given'),
    optionValues: Type.Array(Out(100), {
      maxItems: MAX_OPTIONS,
      description: 'One value per product option, in order'
    }),
    prices: Type.Array(PriceSchema, { maxItems: CURRENCIES.length }),
    compareAtPrices: Nullable(Type.Array(PriceSchema, { maxItems: CURRENCIES.length })),
    stock: Int32(),
    barcode: Nullable(Out(64)),
    weightGrams: Nullable(Int32()),
    position: Int32({ description: 'Order among the product’s variants, from 0' }),
    version: Int32({ minimum: 1, description: 'Starts at 1, +1 on every change; part of the variant’s ETag' }),
    createdAt: Timestamp,
    updatedAt: Timestamp
  },
  { additionalProperties: false, title: 'Variant', example: T_SHIRT.variants[0] }
)
export type Variant = Static<typeof VariantSchema>

const MediaUrl = Type.String({
  minLength: 9,
  maxLength: 2048,
  pattern: '^https://[^\\s\\u0000-\\u001f\\uD800-\\uDFFF]+$',
  description: 'https URL of the file (on a CDN or object store), at most 2,048 characters'
})

export const MediaSchema = Type.Object(
  {
    id: Id,
    url: Out(2048),
    alt: Out(512),
    width: Nullable(Int32({ minimum: 1 })),
    height: Nullable(Int32({ minimum: 1 })),
    variantIds: Type.Array(Id, { maxItems: MAX_VARIANTS, description: 'Variants this image shows (empty: all)' })
  },
  { additionalProperties: false, title: 'Media', example: T_SHIRT.media[0] }
)
export type Media = Static<typeof MediaSchema>

export const MediaInputSchema = Type.Object(
  {
    url: MediaUrl,
    alt: Type.Optional(Text({ maxLength: 512 })),
    width: Type.Optional(Int32({ minimum: 1 })),
    height: Type.Optional(Int32({ minimum: 1 })),
    variantIds: Type.Optional(Type.Array(Id, { maxItems: MAX_VARIANTS, uniqueItems: true }))
  },
  { additionalProperties: false, title: 'MediaInput' }
)
export type MediaInput = Static<typeof MediaInputSchema>

const Tag = Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9-]+$' })
const Tags = Type.Array(Tag, {
  maxItems: MAX_TAGS,
  uniqueItems: true,
  description: 'Lower-case tags ([a-z0-9-], at most 64 characters), at most 50'
})

export const PriceBoundsSchema = Type.Object(
  { min: Int32(), max: Int32() },
  { additionalProperties: false, title: 'PriceBounds' }
)
export const PriceRangeSchema = Type.Unsafe<Record<string, Static<typeof PriceBoundsSchema>>>({
  type: 'object',
  title: 'PriceRange',
  description: 'Lowest and highest variant price per currency, in minor units',
  additionalProperties: PriceBoundsSchema,
  example: { USD: { min: 1999, max: 2499 } }
})

export const ProductSchema = Type.Object(
  {
    id: Id,
    name: Out(200),
    slug: Out(120, 'Unique, URL-safe'),
    description: Out(5000),
    categoryId: Nullable(Id),
    status: ProductStatus,
    tags: Type.Array(Out(64), { maxItems: MAX_TAGS }),
    options: Type.Array(OptionSchema, { maxItems: MAX_OPTIONS }),
    variants: Type.Array(VariantSchema, { minItems: 1, maxItems: MAX_VARIANTS }),
    media: Type.Array(MediaSchema, { maxItems: MAX_MEDIA }),
    priceRange: PriceRangeSchema,
    version: Int32({ minimum: 1, description: 'Starts at 1, +1 on every change to it, its variants or media' }),
    createdAt: Timestamp,
    updatedAt: Timestamp
  },
  { additionalProperties: false, title: 'Product', example: T_SHIRT }
)
export type Product = Static<typeof ProductSchema>

const variantFields = {
  sku: Sku,
  title: Type.Optional(Name(200)),
  optionValues: Type.Optional(
    Type.Array(OptionValue, { maxItems: MAX_OPTIONS, description: 'One value per product option, in order' })
  ),
  prices: Prices('Selling prices'),
  compareAtPrices: Type.Optional(Nullable(Prices('Prices before a reduction, shown struck through'))),
  stock: Type.Optional(Int32({ description: 'Units on hand (absolute); default 0' })),
  barcode: Type.Optional(Nullable(Barcode)),
  weightGrams: Type.Optional(Nullable(Int32()))
}

export const CreateVariantSchema = Type.Object(variantFields, {
  additionalProperties: false,
  title: 'CreateVariant',
  example: { sku: 'TEE-BLK-XL', optionValues: ['XL'], prices: [{ currency: 'USD', amountCents: 2199 }], stock: 5 }
})
export type CreateVariant = Static<typeof CreateVariantSchema>

export const UpdateVariantSchema = Type.Object(
  {
    sku: Type.Optional(Sku),
    title: Type.Optional(Name(200)),
    optionValues: variantFields.optionValues,
    prices: Type.Optional(Prices('Selling prices')),
    compareAtPrices: variantFields.compareAtPrices,
    stock: variantFields.stock,
    barcode: variantFields.barcode,
    weightGrams: variantFields.weightGrams,
    position: Type.Optional(Int32({ maximum: MAX_VARIANTS - 1 }))
  },
  { additionalProperties: false, minProperties: 1, title: 'UpdateVariant', example: { stock: 40 } }
)
export type UpdateVariant = Static<typeof UpdateVariantSchema>

export const StockAdjustmentSchema = Type.Object(
  {
    delta: Type.Integer({
      format: 'int32',
      minimum: -2_147_483_647,
      maximum: 2_147_483_647,
      not: { const: 0 },
      description: 'Units to add (positive) or take (negative); the stock never goes below 0'
    }),
    reason: Text({ minLength: 1, maxLength: 200 })
  },
  { additionalProperties: false, title: 'StockAdjustment', example: { delta: -1, reason: 'order 1043' } }
)
export type StockAdjustment = Static<typeof StockAdjustmentSchema>

export const ReplaceMediaSchema = Type.Object(
  {
    media: Type.Array(MediaInputSchema, {
      maxItems: MAX_MEDIA,
      description: 'The whole ordered list; it replaces the current one (ids are new)'
    })
  },
  {
    additionalProperties: false,
    title: 'ReplaceMedia',
    example: { media: [{ url: 'https://cdn.example.com/tee-black-front.jpg', alt: 'Front' }] }
  }
)
export type ReplaceMedia = Static<typeof ReplaceMediaSchema>

const productFields = {
  name: Name(200),
  slug: Slug,
  description: Text({ maxLength: 5000 }),
  categoryId: Nullable(Id),
  status: ProductStatus,
  tags: Tags
}

export const CreateProductSchema = Type.Object(
  {
    name: productFields.name,
    slug: Type.Optional(productFields.slug),
    description: Type.Optional(productFields.description),
    categoryId: Type.Optional(productFields.categoryId),
    status: Type.Optional(productFields.status),
    tags: Type.Optional(productFields.tags),
    options: Type.Optional(
      Type.Array(OptionSchema, { maxItems: MAX_OPTIONS, description: 'Up to 3 options, in display order' })
    ),
    variants: Type.Optional(
      Type.Array(CreateVariantSchema, {
        minItems: 1,
        maxItems: MAX_VARIANTS,
        description: 'In display order; one per combination of option values'
      })
    ),
    media: Type.Optional(Type.Array(MediaInputSchema, { maxItems: MAX_MEDIA })),
    sku: Type.Optional({ ...Sku, description: 'Without `variants`: the SKU of the one default variant' }),
    priceCents: Type.Optional(Int32({ description: 'Without `variants`: the default variant’s price in `currency`' })),
    currency: Type.Optional({ ...Currency, description: 'Without `variants`: the currency of `priceCents`' }),
    stock: Type.Optional(Int32({ description: 'Without `variants`: the default variant’s stock' }))
  },
  {
    additionalProperties: false,
    title: 'CreateProduct',
    description:
      'A product with its options, variants and media, created in one transaction. A product without options may instead give its one variant as sku, priceCents, currency and stock.',
    example: {
      name: 'Organic cotton T-shirt',
      status: 'active',
      tags: ['cotton', 'summer'],
      options: [{ name: 'Size', values: ['S', 'M', 'L'] }],
      variants: [
        {
          sku: 'TEE-S',
          optionValues: ['S'],
          prices: [
            { currency: 'USD', amountCents: 1999 },
            { currency: 'EUR', amountCents: 1899 }
          ],
          stock: 10
        }
      ],
      media: [{ url: 'https://cdn.example.com/tee-front.jpg', alt: 'Front' }]
    }
  }
)
export type CreateProduct = Static<typeof CreateProductSchema>

export const UpdateProductSchema = Type.Object(
  {
    name: Type.Optional(productFields.name),
    slug: Type.Optional(productFields.slug),
    description: Type.Optional(productFields.description),
    categoryId: Type.Optional(productFields.categoryId),
    status: Type.Optional(productFields.status),
    tags: Type.Optional(productFields.tags)
  },
  { additionalProperties: false, minProperties: 1, title: 'UpdateProduct', example: { status: 'active' } }
)
export type UpdateProduct = Static<typeof UpdateProductSchema>

export const PRODUCT_SORTS = ['newest', 'price', '-price', 'name'] as const
export type ProductSort = (typeof PRODUCT_SORTS)[number]

export const ListProductsQuerySchema = Type.Object(
  {
    ...PageQuery,
    sort: Type.Enum([...PRODUCT_SORTS], {
      default: 'newest',
      description: 'newest (default), name, price or -price (by the lowest variant price in `currency`)'
    }),
    categoryId: Type.Optional(Id),
    includeDescendants: Type.Boolean({
      default: false,
      description: 'With categoryId: include products of its subcategories'
    }),
    status: Type.Optional({
      ...ProductStatus,
      description: 'Without an editor or admin key only active products are listed; draft and archived need one'
    }),
    currency: Type.Optional({
      ...Currency,
      description: 'Currency of minPrice, maxPrice and the price sorts (DEFAULT_CURRENCY when absent)'
    }),
    minPrice: Type.Optional(Int32({ description: 'Lowest variant price in `currency`, minor units, inclusive' })),
    maxPrice: Type.Optional(Int32({ description: 'Lowest variant price in `currency`, minor units, inclusive' })),
    tag: Type.Optional(
      Type.Array(Tag, { minItems: 1, maxItems: 10, description: 'Repeatable: products carrying every tag given' })
    ),
    sku: Type.Optional({ ...Sku, description: 'Products with a variant of exactly this SKU' }),
    hasStock: Type.Optional(Type.Boolean({ description: 'true: products with a variant in stock' })),
    q: Type.Optional(
      Text({
        minLength: 1,
        maxLength: 200,
        description: 'Full-text search over name and description, or exactly a variant SKU'
      })
    )
  },
  { additionalProperties: false }
)
export type ListProductsQuery = Static<typeof ListProductsQuerySchema>
