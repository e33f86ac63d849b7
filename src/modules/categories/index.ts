import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { encodeResponse, respondCached } from '../../cache/response.js'
import type { ReadContext } from '../../db/read-context.js'
import { etagOf, ifNoneMatchHits } from '../../lib/etag.js'
import { paginate } from '../../lib/pagination.js'
import { withHeaders } from '../../lib/openapi/headers.js'
import { IdParams, Ok, PageOf, errorResponses } from '../../lib/schemas.js'
import {
  CategorySchema,
  CategoryTreeSchema,
  CreateCategorySchema,
  ListCategoriesQuerySchema,
  UpdateCategorySchema
} from './schemas.js'
import { IdempotencyKeyHeader } from '../../writes/idempotency.js'
import { IfMatchHeader, IfNoneMatchHeader } from '../../lib/etag-headers.js'
import * as service from './service.js'

// Cache tags: a category's own entry; lists and trees change with any category write.
const categoryTag = (id: number) => `category:${id}`
const changesCategories = () => ['categories']
const changesCategory = (request: { params: unknown }) => [
  'categories',
  categoryTag((request.params as { id: number }).id)
]

const tags = ['categories']
const ConditionalHeaders = Type.Object({ 'if-match': IfMatchHeader })
const CacheHeaders = Type.Object({ 'if-none-match': IfNoneMatchHeader })
const IdempotentHeaders = Type.Object({ 'idempotency-key': IdempotencyKeyHeader })
const IdempotentConditionalHeaders = Type.Object({
  ...ConditionalHeaders.properties,
  'idempotency-key': IdempotencyKeyHeader
})

const categories: FastifyPluginAsyncTypebox = async (app) => {
  // A cache miss reads where the cache's fill context allows; everything else as the request's token asks.
  const fillDeps = (context: ReadContext) => ({ db: app.db.scoped(context), cursors: app.cursors })
  const requestDeps = (request: FastifyRequest) => ({ db: app.dbFor(request), cursors: app.cursors })
  const canWrite = app.authorize('editor', 'admin')
  const canDelete = app.authorize('admin')

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
      respondCached(
        reply,
        app.cache,
        `categories:${request.url}`,
        { name: 'category-list', tags: ['categories'] },
        async (context) => {
          const page = await service.listCategories(fillDeps(context), request.query)
          const body = {
            success: true as const,
            data: page.items,
            pagination: paginate(request, reply, page.nextCursor)
          }
          return encodeResponse({ link: reply.getHeader('link') }, reply.serialize(body))
        }
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
        response: {
          200: withHeaders(Ok(CategorySchema), 'ETag'),
          304: withHeaders(Type.Null({ description: 'Not modified: the ETag in If-None-Match is current' }), 'ETag'),
          ...errorResponses('CATEGORY_NOT_FOUND')
        }
      }
    },
    (request, reply) =>
      respondCached(
        reply,
        app.cache,
        categoryTag(request.params.id),
        { name: 'category', tags: [categoryTag(request.params.id)] },
        async (context) => {
          const category = await service.getCategory(fillDeps(context), request.params.id)
          return encodeResponse(
            { etag: etagOf(category.id, category.version) },
            reply.serialize({ success: true as const, data: category })
          )
        },
        (etag) => ifNoneMatchHits(request.headers['if-none-match'], etag)
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
      respondCached(
        reply,
        app.cache,
        `category-tree:${request.params.id}`,
        { name: 'category-tree', tags: ['categories'] },
        async (context) =>
          encodeResponse(
            {},
            reply.serialize({
              success: true as const,
              data: await service.getCategoryTree(fillDeps(context), request.params.id)
            })
          )
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
      reply
        .code(201)
        .header('location', `/api/v1/categories/${category.id}`)
        .header('etag', etagOf(category.id, category.version))
      return { success: true as const, data: category }
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
      reply.header('etag', etagOf(category.id, category.version))
      return { success: true as const, data: category }
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
