import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import {
  entityReadResponses,
  readEntity,
  readPage,
  readValue,
  sendCreated,
  sendVersioned
} from '../../cache/cached-read.js'
import { Type } from 'typebox'
import type { ReadContext } from '../../db/read-context.js'
import { withHeaders } from '../../lib/openapi/headers.js'
import {
  CacheHeaders,
  ConditionalHeaders,
  IdempotentConditionalHeaders,
  IdempotentHeaders
} from '../../lib/request-headers.js'
import { IdParams, Ok, PageOf, SlugParams, errorResponses } from '../../lib/schemas.js'
import {
  CategorySchema,
  CategoryTreeSchema,
  CreateCategorySchema,
  ListCategoriesQuerySchema,
  UpdateCategorySchema
} from './schemas.js'
import * as service from './service.js'

// Cache tags: a category's own entry; lists, trees and by-slug reads change with any category write.
const categoryTag = (id: number) => `category:${id}`
const changesCategories = () => ['categories']
const changesCategory = (request: { params: unknown }) => [
  'categories',
  categoryTag((request.params as { id: number }).id)
]

const tags = ['categories']

const categories: FastifyPluginAsyncTypebox = async (app) => {
  // A cache miss reads where the cache's fill context allows; everything else as the request's token asks.
  const fillDeps = (context: ReadContext) => ({ db: app.db.scoped(context), cursors: app.cursors })
  const requestDeps = (request: FastifyRequest) => ({ db: app.dbFor(request), cursors: app.cursors })
  const canWrite = app.authorizeWrite('editor', 'admin')
  const canDelete = app.authorizeWrite('admin')
  const listOptions = { name: 'category-list', tags: ['categories'] }

  app.get(
    '/categories',
    {
      config: { operation: ['category', 'list'], publicRead: true },
      schema: {
        tags,
        operationId: 'listCategories',
        summary: 'List categories (keyset pagination)',
        security: [],
        querystring: ListCategoriesQuerySchema,
        response: { 200: withHeaders(PageOf(CategorySchema), 'Link') }
      }
    },
    (request, reply) =>
      readPage(reply, { cache: app.cache, key: `categories:${request.url}`, options: listOptions }, (context) =>
        service.listCategories(fillDeps(context), request.query)
      )
  )

  app.get(
    '/categories/:id',
    {
      config: { operation: ['category', 'read'], publicRead: true },
      schema: {
        tags,
        operationId: 'getCategory',
        summary: 'Get a category (ETag; If-None-Match → 304)',
        security: [],
        params: IdParams,
        headers: CacheHeaders,
        response: entityReadResponses(CategorySchema, 'CATEGORY_NOT_FOUND')
      }
    },
    (request, reply) =>
      readEntity(
        reply,
        {
          cache: app.cache,
          key: categoryTag(request.params.id),
          options: { name: 'category', tags: [categoryTag(request.params.id)] }
        },
        (context) => service.getCategory(fillDeps(context), request.params.id)
      )
  )

  app.get(
    '/categories/by-slug/:slug',
    {
      config: { operation: ['category', 'read'], publicRead: true },
      schema: {
        tags,
        operationId: 'getCategoryBySlug',
        summary: 'Get a category by its slug (ETag; If-None-Match → 304)',
        security: [],
        params: SlugParams,
        headers: CacheHeaders,
        response: entityReadResponses(CategorySchema, 'CATEGORY_NOT_FOUND')
      }
    },
    (request, reply) =>
      readEntity(
        reply,
        {
          cache: app.cache,
          key: `category-slug:${request.params.slug}`,
          options: { name: 'category', tags: ['categories'] }
        },
        (context) => service.getCategoryBySlug(fillDeps(context), request.params.slug)
      )
  )

  app.get(
    '/categories/:id/tree',
    {
      config: { operation: ['category', 'tree'], publicRead: true },
      schema: {
        tags,
        operationId: 'getCategoryTree',
        summary: 'A category with its ancestors (root first) and direct children',
        security: [],
        params: IdParams,
        response: { 200: Ok(CategoryTreeSchema), ...errorResponses('CATEGORY_NOT_FOUND') }
      }
    },
    (request, reply) =>
      readValue(
        reply,
        {
          cache: app.cache,
          key: `category-tree:${request.params.id}`,
          options: { name: 'category-tree', tags: ['categories'] }
        },
        (context) => service.getCategoryTree(fillDeps(context), request.params.id)
      )
  )

  app.post(
    '/categories',
    {
      config: { operation: ['category', 'create'], invalidates: changesCategories },
      onRequest: canWrite,
      schema: {
        tags,
        operationId: 'createCategory',
        summary: 'Create a category (editor or admin)',
        security: [{ bearerAuth: [] }],
        headers: IdempotentHeaders,
        body: CreateCategorySchema,
        response: {
          201: withHeaders(Ok(CategorySchema), 'Location', 'ETag'),
          ...errorResponses('SLUG_TAKEN', 'UNKNOWN_CATEGORY')
        }
      }
    },
    async (request, reply) => {
      const category = await service.createCategory(requestDeps(request), request.body, app.audit.context(request, 201))
      return sendCreated(reply, `/api/v1/categories/${category.id}`, category)
    }
  )

  app.patch(
    '/categories/:id',
    {
      config: { operation: ['category', 'update'], invalidates: changesCategory },
      onRequest: canWrite,
      schema: {
        tags,
        operationId: 'updateCategory',
        summary: 'Update or move a category (editor or admin; a move that would make a cycle → 409)',
        security: [{ bearerAuth: [] }],
        params: IdParams,
        headers: IdempotentConditionalHeaders,
        body: UpdateCategorySchema,
        response: {
          200: withHeaders(Ok(CategorySchema), 'ETag'),
          ...errorResponses(
            'CATEGORY_NOT_FOUND',
            'SLUG_TAKEN',
            'CATEGORY_CYCLE',
            'UNKNOWN_CATEGORY',
            'PRECONDITION_FAILED'
          )
        }
      }
    },
    async (request, reply) => {
      const category = await service.updateCategory(
        requestDeps(request),
        request.params.id,
        request.body,
        request.headers['if-match'],
        app.audit.context(request, 200)
      )
      return sendVersioned(reply, category)
    }
  )

  app.delete(
    '/categories/:id',
    {
      config: { operation: ['category', 'delete'], invalidates: changesCategory },
      onRequest: canDelete,
      schema: {
        tags,
        operationId: 'deleteCategory',
        summary: 'Delete an empty category (admin; 409 while it has products or subcategories)',
        security: [{ bearerAuth: [] }],
        params: IdParams,
        headers: ConditionalHeaders,
        response: {
          204: Type.Null({ description: 'Deleted' }),
          ...errorResponses('CATEGORY_NOT_FOUND', 'CATEGORY_NOT_EMPTY', 'PRECONDITION_FAILED')
        }
      }
    },
    async (request, reply) => {
      await service.deleteCategory(
        requestDeps(request),
        request.params.id,
        request.headers['if-match'],
        app.audit.context(request)
      )
      return reply.code(204).send(null)
    }
  )
}

export default categories
