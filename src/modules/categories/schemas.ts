import { type Static, Type } from 'typebox'
import { Id, Name, PageQuery, Slug, Text, Timestamp } from '../../lib/schemas.js'

export const CategorySchema = Type.Object(
  {
    id: Type.Integer(),
    name: Type.String(),
    slug: Type.String(),
    description: Type.String(),
    parentId: Type.Union([Type.Integer(), Type.Null()]),
    version: Type.Integer(),
    createdAt: Timestamp,
    updatedAt: Timestamp
  },
  { additionalProperties: false }
)
export type Category = Static<typeof CategorySchema>

export const CategoryTreeSchema = Type.Object({
  category: CategorySchema,
  ancestors: Type.Array(CategorySchema, { description: 'From the root down to the parent' }),
  children: Type.Array(CategorySchema, { description: 'Direct subcategories, by name' })
})
export type CategoryTree = Static<typeof CategoryTreeSchema>

const fields = {
  name: Name(200),
  slug: Slug,
  description: Text({ maxLength: 5000 }),
  parentId: Type.Union([Id, Type.Null()])
}

export const CreateCategorySchema = Type.Object(
  {
    name: fields.name,
    slug: Type.Optional(fields.slug),
    description: Type.Optional(fields.description),
    parentId: Type.Optional(fields.parentId)
  },
  { additionalProperties: false }
)
export type CreateCategory = Static<typeof CreateCategorySchema>

export const UpdateCategorySchema = Type.Object(
  {
    name: Type.Optional(fields.name),
    slug: Type.Optional(fields.slug),
    description: Type.Optional(fields.description),
    parentId: Type.Optional(fields.parentId)
  },
  { additionalProperties: false, minProperties: 1 }
)
export type UpdateCategory = Static<typeof UpdateCategorySchema>

export const CATEGORY_SORTS = ['newest', 'name'] as const
export type CategorySort = (typeof CATEGORY_SORTS)[number]

export const ListCategoriesQuerySchema = Type.Object(
  {
    ...PageQuery,
    sort: Type.Enum([...CATEGORY_SORTS], { default: 'newest', description: 'newest (default) or name' }),
    parentId: Type.Optional(Id)
  },
  { additionalProperties: false }
)
export type ListCategoriesQuery = Static<typeof ListCategoriesQuerySchema>
