import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { encodeResponse, respondCached } from '../../cache/response.js'
import type { ReadContext } from '../../db/read-context.js'
import { etagOf, ifNoneMatchHits } from '../../lib/etag.js'
import { paginate } from '../../lib/pagination.js'
import { withHeaders } from '../../lib/openapi/headers.js'
import { IdParams, Ok, PageOf, errorResponses } from '../../lib/schemas.js'
import { CreateProductSchema, ListProductsQuerySchema, ProductSchema, UpdateProductSchema } from './schemas.js'
import { IdempotencyKeyHeader } from '../../writes/idempotency.js'
import { IfMatchHeader, IfNoneMatchHeader } from '../../lib/etag-headers.js'
import * as service from './service.js'

// Cache tags: a product's own entry, and every list page (category filters also depend on the tree).
const productTag = (id: number) => `product:${id}`
const listTags = (categoryId?: number) => (categoryId === undefined ? ['products'] : ['products', 'categories'])
const changesList = () => ['products']
const changesProduct = (request: { params: unknown }) => ['products', productTag((request.params as { id: number }).id)]

const tags = ['products']
const ConditionalHeaders = Type.Object({ 'if-match': IfMatchHeader })
const CacheHeaders = Type.Object({ 'if-none-match': IfNoneMatchHeader })
const IdempotentHeaders = Type.Object({ 'idempotency-key': IdempotencyKeyHeader })
const IdempotentConditionalHeaders = Type.Object({
  ...ConditionalHeaders.properties,
  'idempotency-key': IdempotencyKeyHeader
})

const products: FastifyPluginAsyncTypebox = async (app) => {
  // A cache miss reads where the cache's fill context allows; everything else as the request's token asks.
  const fillDeps = (context: ReadContext) => ({ db: app.db.scoped(context), cursors: app.cursors })
  const requestDeps = (request: FastifyRequest) => ({ db: app.dbFor(request), cursors: app.cursors })
  const canWrite = app.authorize('editor', 'admin')
  const canDelete = app.authorize('admin')

  app.get(
    '/products',
    {
      config: { operation: ['product', 'list'], publicRead: true },
      schema: {
        tags,
        operationId: 'listProducts',
        summary: 'List products (keyset pagination)',
        security: [],
        querystring: ListProductsQuerySchema,
        response: { 200: withHeaders(PageOf(ProductSchema), 'Link') }
      }
    },
    (request, reply) =>
      respondCached(
        reply,
        app.cache,
        `products:${request.url}`,
        { name: 'product-list', tags: listTags(request.query.categoryId) },
        async (context) => {
          const page = await service.listProducts(fillDeps(context), request.query)
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
    '/products/:id',
    {
      config: { operation: ['product', 'read'], publicRead: true },
      schema: {
        tags,
        operationId: 'getProduct',
        summary: 'Get a product (ETag; If-None-Match → 304)',
        security: [],
        params: IdParams,
        headers: CacheHeaders,
        response: {
          200: withHeaders(Ok(ProductSchema), 'ETag'),
          304: withHeaders(Type.Null({ description: 'Not modified: the ETag in If-None-Match is current' }), 'ETag'),
          ...errorResponses('PRODUCT_NOT_FOUND')
        }
      }
    },
    (request, reply) =>
      respondCached(
        reply,
        app.cache,
        productTag(request.params.id),
        { name: 'product', tags: [productTag(request.params.id)] },
        async (context) => {
          const product = await service.getProduct(fillDeps(context), request.params.id)
          return encodeResponse(
            { etag: etagOf(product.id, product.version) },
            reply.serialize({ success: true as const, data: product })
          )
        },
        (etag) => ifNoneMatchHits(request.headers['if-none-match'], etag)
      )
  )

  app.post(
    '/products',
    {
      config: { operation: ['product', 'create'], invalidates: changesList },
      onRequest: canWrite,
      schema: {
        tags,
        operationId: 'createProduct',
        summary: 'Create a product (editor or admin)',
        security: [{ bearerAuth: [] }],
        headers: IdempotentHeaders,
        body: CreateProductSchema,
        response: {
          201: withHeaders(Ok(ProductSchema), 'Location', 'ETag'),
          ...errorResponses('SKU_TAKEN', 'SLUG_TAKEN', 'UNKNOWN_CATEGORY')
        }
      }
    },
    async (request, reply) => {
      const product = await service.createProduct(requestDeps(request), request.body, app.audit.context(request, 201))
      reply
        .code(201)
        .header('location', `/api/v1/products/${product.id}`)
        .header('etag', etagOf(product.id, product.version))
      return { success: true as const, data: product }
    }
  )

  app.patch(
    '/products/:id',
    {
      config: { operation: ['product', 'update'], invalidates: changesProduct },
      onRequest: canWrite,
      schema: {
        tags,
        operationId: 'updateProduct',
        summary: 'Update some fields of a product (editor or admin; If-Match for optimistic locking)',
        security: [{ bearerAuth: [] }],
        params: IdParams,
        headers: IdempotentConditionalHeaders,
        body: UpdateProductSchema,
        response: {
          200: withHeaders(Ok(ProductSchema), 'ETag'),
          ...errorResponses('PRODUCT_NOT_FOUND', 'SKU_TAKEN', 'SLUG_TAKEN', 'UNKNOWN_CATEGORY', 'PRECONDITION_FAILED')
        }
      }
    },
    async (request, reply) => {
      const product = await service.updateProduct(
        requestDeps(request),
        request.params.id,
        request.body,
        request.headers['if-match'],
        app.audit.context(request, 200)
      )
      reply.header('etag', etagOf(product.id, product.version))
      return { success: true as const, data: product }
    }
  )

  app.delete(
    '/products/:id',
    {
      config: { operation: ['product', 'delete'], invalidates: changesProduct },
      onRequest: canDelete,
      schema: {
        tags,
        operationId: 'deleteProduct',
        summary: 'Delete a product (admin; If-Match for optimistic locking)',
        security: [{ bearerAuth: [] }],
        params: IdParams,
        headers: ConditionalHeaders,
        response: {
          204: Type.Null({ description: 'Deleted' }),
          ...errorResponses('PRODUCT_NOT_FOUND', 'PRECONDITION_FAILED')
        }
      }
    },
    async (request, reply) => {
      await service.deleteProduct(
        requestDeps(request),
        request.params.id,
        request.headers['if-match'],
        app.audit.context(request)
      )
      return reply.code(204).send(null)
    }
  )
}

export default products
