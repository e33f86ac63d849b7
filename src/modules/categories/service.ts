import { randomBytes } from 'node:crypto'
import type { Database } from '../../db/database.js'
import { isForeignKeyViolation, isUniqueViolation } from '../../db/errors.js'
import { toPage } from '../../db/keyset.js'
import type { CursorCodec } from '../../lib/cursor.js'
import { assertIfMatch, etagOf } from '../../lib/etag.js'
import { slugify } from '../../lib/slug.js'
import { AppError } from '../../errors.js'
import { created, deleted, mutate, updated, type WriteContext } from '../../writes/mutation.js'
import * as repo from './repository.js'
import type { Category, CategoryTree, CreateCategory, ListCategoriesQuery, UpdateCategory } from './schemas.js'

export interface CategoryDeps {
  db: Database
  cursors: CursorCodec
}

const notFound = (id: number) => new AppError('CATEGORY_NOT_FOUND', `No category with id ${id}`)
const unknownParent = () =>
  new AppError('UNKNOWN_CATEGORY', 'parentId does not name an existing category', [
    { field: 'parentId', message: 'no such category' }
  ])

function mapWriteError(err: unknown): never {
  if (isUniqueViolation(err, 'categories_slug_key'))
    throw new AppError('SLUG_TAKEN', 'Another category already uses this slug')
  if (isForeignKeyViolation(err, 'categories_parent_id_fkey')) throw unknownParent()
  throw err
}

export async function getCategory({ db }: CategoryDeps, id: number): Promise<Category> {
  const row = await repo.findCategoryById(db.reader(), id)
  if (!row) throw notFound(id)
  return repo.rowToCategory(row)
}

export async function getCategoryBySlug({ db }: CategoryDeps, slug: string): Promise<Category> {
  const row = await repo.findCategoryBySlug(db.reader(), slug)
  if (!row) throw new AppError('CATEGORY_NOT_FOUND', `No category with slug ${slug}`)
  return repo.rowToCategory(row)
}

export async function getCategoryTree({ db }: CategoryDeps, id: number): Promise<CategoryTree> {
  const reader = db.reader()
  const row = await repo.findCategoryById(reader, id)
  if (!row) throw notFound(id)
  const [ancestors, children] = await Promise.all([repo.findAncestors(reader, id), repo.findChildren(reader, id)])
  return {
    category: repo.rowToCategory(row),
    ancestors: ancestors.map(repo.rowToCategory),
    children: children.map(repo.rowToCategory)
  }
}

export async function listCategories({ db, cursors }: CategoryDeps, query: ListCategoriesQuery) {
  const after = query.cursor === undefined ? undefined : cursors.decode(`categories:${query.sort}`, query.cursor)
  const rows = await repo.listCategories(db.reader(), { parentId: query.parentId }, query.sort, after, query.limit)
  return toPage(rows, query.limit, repo.rowToCategory, (row) =>
    cursors.encode(`categories:${query.sort}`, repo.categoryCursorKey(query.sort, row))
  )
}

export async function createCategory(
  { db }: CategoryDeps,
  input: CreateCategory,
  ctx: WriteContext
): Promise<Category> {
  try {
    return await mutate(db, ctx, async (tx) => {
      const row = await repo.insertCategory(tx, {
        name: input.name,
        // A name with no ASCII letter or digit ("日本") gets a random slug rather than a shared placeholder.
        slug: input.slug ?? (slugify(input.name) || `category-${randomBytes(4).toString('hex')}`),
        description: input.description ?? '',
        parentId: input.parentId ?? null
      })
      return created('category', repo.rowToCategory(row))
    })
  } catch (err) {
    mapWriteError(err)
  }
}

export async function updateCategory(
  { db }: CategoryDeps,
  id: number,
  patch: UpdateCategory,
  ifMatch: string | undefined,
  ctx: WriteContext
): Promise<Category> {
  try {
    return await mutate(db, ctx, async (tx) => {
      if (patch.parentId !== undefined && patch.parentId !== null) await repo.lockTree(tx)
      const current = await repo.findCategoryById(tx, id, { forUpdate: true })
      if (!current) throw notFound(id)
      assertIfMatch(ifMatch, etagOf(current.id, current.version))
      if (patch.parentId !== undefined && patch.parentId !== null) {
        if (patch.parentId === id) throw new AppError('CATEGORY_CYCLE', 'A category cannot be its own parent')
        const parent = await repo.findCategoryById(tx, patch.parentId)
        if (!parent) throw unknownParent()
        const above = await repo.findAncestors(tx, patch.parentId)
        if (above.some((a) => a.id === id)) {
          throw new AppError(
            'CATEGORY_CYCLE',
            `Category ${patch.parentId} is below category ${id}; moving there would make a cycle`
          )
        }
      }
      return updated(
        'category',
        repo.rowToCategory(current),
        repo.rowToCategory(await repo.updateCategory(tx, id, patch))
      )
    })
  } catch (err) {
    mapWriteError(err)
  }
}

export async function deleteCategory(
  { db }: CategoryDeps,
  id: number,
  ifMatch: string | undefined,
  ctx: WriteContext
): Promise<void> {
  try {
    await mutate(db, ctx, async (tx) => {
      const current = await repo.findCategoryById(tx, id, { forUpdate: true })
      if (!current) throw notFound(id)
      assertIfMatch(ifMatch, etagOf(current.id, current.version))
      await repo.deleteCategory(tx, id)
      return deleted('category', repo.rowToCategory(current))
    })
  } catch (err) {
    if (isForeignKeyViolation(err)) {
      throw new AppError(
        'CATEGORY_NOT_EMPTY',
        `Category ${id} still has products or subcategories; move or delete them first`
      )
    }
    throw err
  }
}
