import { type Static, Type } from 'typebox'
import { Id, Int32, Name, Out, PageQuery, Slug, Text, Timestamp } from '../../lib/schemas.js'

export const ProductStatus = Type.Enum(['draft', 'active', 'archived'])

/** The ISO 4217 codes this runtime knows (ICU's list), the only ones a product may be priced in. */
export const CURRENCIES: readonly string[] = Intl.supportedValuesOf('currency')

export const ProductSchema = Type.Object(
  {
    id: Id,
    sku: Out(64, 'Stock keeping unit, unique'),
    name: Out(200),
    slug: Out(120, 'Unique, URL-safe'),
    description: Out(5000),
    priceCents: Int32({ description: 'Price in minor units of `currency` (cents for USD)' }),
    currency: Type.String({ minLength: 3, maxLength: 3, pattern: '^[A-Z]{3}$', description: 'ISO 4217 code' }),
    categoryId: Type.Union([Id, Type.Null()]),
    stock: Int32(),
    status: ProductStatus,
    version: Int32({ minimum: 1, description: 'Starts at 1, +1 on every change; part of the ETag' }),
    createdAt: Timestamp,
    updatedAt: Timestamp
  },
  {
    additionalProperties: false,
    title: 'Product',
    example: {
      id: 42,
      sku: 'LAMP-OAK-1',
      name: 'Oak desk lamp',
      slug: 'oak-desk-lamp',
      description: 'A warm desk lamp in solid oak.',
      priceCents: 4999,
      currency: 'USD',
      categoryId: 3,
      stock: 12,
      status: 'active',
      version: 1,
      createdAt: '2026-01-15T09:30:00.000Z',
      updatedAt: '2026-01-15T09:30:00.000Z'
    }
  }
)
export type Product = Static<typeof ProductSchema>

const fields = {
  sku: Type.String({
    minLength: 1,
    maxLength: 64,
    pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
    description: 'Stock keeping unit, unique'
  }),
  name: Name(200),
  slug: Slug,
  description: Text({ maxLength: 5000 }),
  priceCents: Int32({ description: 'Minor units, e.g. 1999 = 19.99 USD' }),
  currency: Type.Enum([...CURRENCIES], { description: 'ISO 4217 code, e.g. USD' }),
  categoryId: Type.Union([Id, Type.Null()]),
  stock: Int32(),
  status: ProductStatus
}

export const CreateProductSchema = Type.Object(
  {
    sku: fields.sku,
    name: fields.name,
    slug: Type.Optional(fields.slug),
    description: Type.Optional(fields.description),
    priceCents: fields.priceCents,
    currency: fields.currency,
    categoryId: Type.Optional(fields.categoryId),
    stock: Type.Optional(fields.stock),
    status: Type.Optional(fields.status)
  },
  {
    additionalProperties: false,
    title: 'CreateProduct',
    example: {
      sku: 'LAMP-OAK-1',
      name: 'Oak desk lamp',
      priceCents: 4999,
      currency: 'USD',
      categoryId: 3,
      stock: 12,
      status: 'active'
    }
  }
)
export type CreateProduct = Static<typeof CreateProductSchema>

export const UpdateProductSchema = Type.Object(
  {
    sku: Type.Optional(fields.sku),
    name: Type.Optional(fields.name),
    slug: Type.Optional(fields.slug),
    description: Type.Optional(fields.description),
    priceCents: Type.Optional(fields.priceCents),
    currency: Type.Optional(fields.currency),
    categoryId: Type.Optional(fields.categoryId),
    stock: Type.Optional(fields.stock),
    status: Type.Optional(fields.status)
  },
  { additionalProperties: false, minProperties: 1, title: 'UpdateProduct', example: { priceCents: 4499, stock: 11 } }
)
export type UpdateProduct = Static<typeof UpdateProductSchema>

export const PRODUCT_SORTS = ['newest', 'price', '-price', 'name'] as const
export type ProductSort = (typeof PRODUCT_SORTS)[number]

export const ListProductsQuerySchema = Type.Object(
  {
    ...PageQuery,
    sort: Type.Enum([...PRODUCT_SORTS], {
      default: 'newest',
      description: 'newest (default), price, -price (descending) or name'
    }),
    categoryId: Type.Optional(Id),
    includeDescendants: Type.Boolean({
      default: false,
      description: 'With categoryId: include products of its subcategories'
    }),
    status: Type.Optional(ProductStatus),
    minPrice: Type.Optional(Int32({ description: 'Minor units, inclusive' })),
    maxPrice: Type.Optional(Int32({ description: 'Minor units, inclusive' })),
    q: Type.Optional(Text({ minLength: 1, maxLength: 200, description: 'Full-text search over name and description' }))
  },
  { additionalProperties: false }
)
export type ListProductsQuery = Static<typeof ListProductsQuerySchema>
