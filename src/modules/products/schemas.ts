import { type Static, Type } from 'typebox'
import { Id, Name, PageQuery, Slug, Text, Timestamp } from '../../lib/schemas.js'

export const ProductStatus = Type.Enum(['draft', 'active', 'archived'])

export const ProductSchema = Type.Object(
  {
    id: Type.Integer(),
    sku: Type.String(),
    name: Type.String(),
    slug: Type.String(),
    description: Type.String(),
    priceCents: Type.Integer({ description: 'Price in minor units of `currency` (cents for USD)' }),
    currency: Type.String({ description: 'ISO 4217 code' }),
    categoryId: Type.Union([Type.Integer(), Type.Null()]),
    stock: Type.Integer(),
    status: ProductStatus,
    version: Type.Integer(),
    createdAt: Timestamp,
    updatedAt: Timestamp
  },
  { additionalProperties: false }
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
  priceCents: Type.Integer({ minimum: 0, maximum: 2_147_483_647, description: 'Minor units, e.g. 1999 = 19.99 USD' }),
  currency: Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code, e.g. USD' }),
  categoryId: Type.Union([Id, Type.Null()]),
  stock: Type.Integer({ minimum: 0, maximum: 2_147_483_647 }),
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
  { additionalProperties: false }
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
  { additionalProperties: false, minProperties: 1 }
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
    minPrice: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 2_147_483_647, description: 'Minor units, inclusive' })
    ),
    maxPrice: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 2_147_483_647, description: 'Minor units, inclusive' })
    ),
    q: Type.Optional(Text({ minLength: 1, maxLength: 200, description: 'Full-text search over name and description' }))
  },
  { additionalProperties: false }
)
export type ListProductsQuery = Static<typeof ListProductsQuerySchema>
