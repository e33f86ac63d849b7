import { type Static, Type } from 'typebox'
import { Id, Int32, Name, Out, PageQuery, Slug, Text, Timestamp } from '../../lib/schemas.js'

export const CategorySchema = Type.Object(
  {
    id: Id,
    name: Out(200),
    slug: Out(120, 'Unique, URL-safe'),
    description: Out(5000),
    parentId: Type.Union([Id, Type.Null()]),
    version: Int32({ minimum: 1, description: 'Starts at 1, +1 on every change; part of the ETag' }),
    createdAt: Timestamp,
    updatedAt: Timestamp
  },
  {
    additionalProperties: false,
    title: 'Category',
    example: {
      id: 3,
      name: 'Desk lamps',
      slug: 'desk-lamps',
      description: 'Lamps for desks and workbenches.',
      parentId: 1,
      version: 2,
      createdAt: '2026-01-10T08:00:00.000Z',
      updatedAt: '2026-01-12T16:45:00.000Z'
    }
  }
)
export type Category = Static<typeof CategorySchema>

// The tree walk stops 1,000 levels up; children beyond the first TREE_CHILDREN_MAX are listed by
// GET /categories?parentId=.
export const TREE_DEPTH_MAX = 1000
export const TREE_CHILDREN_MAX = 1000

export const CategoryTreeSchema = Type.Object(
  {
    category: CategorySchema,
    ancestors: Type.Array(CategorySchema, {
      maxItems: TREE_DEPTH_MAX,
      description: 'From the root down to the parent'
    }),
    children: Type.Array(CategorySchema, {
      maxItems: TREE_CHILDREN_MAX,
      description: `Direct subcategories, by name (the first ${TREE_CHILDREN_MAX}; all of them: GET /categories?parentId=)`
    })
  },
  { additionalProperties: false, title: 'CategoryTree' }
)
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
  { additionalProperties: false, title: 'CreateCategory', example: { name: 'Desk lamps', parentId: 1 } }
)
export type CreateCategory = Static<typeof CreateCategorySchema>

export const UpdateCategorySchema = Type.Object(
  {
    name: Type.Optional(fields.name),
    slug: Type.Optional(fields.slug),
    description: Type.Optional(fields.description),
    parentId: Type.Optional(fields.parentId)
  },
  { additionalProperties: false, minProperties: 1, title: 'UpdateCategory', example: { parentId: 5 } }
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
