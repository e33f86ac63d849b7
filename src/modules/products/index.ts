import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { etagOf, ifNoneMatchHits } from '../../lib/etag.js'
import { paginate } from '../../lib/pagination.js'
import { IdParams, Ok, PageOf, errorResponses } from '../../lib/schemas.js'
import { CreateProductSchema, ListProductsQuerySchema, ProductSchema, UpdateProductSchema } from './schemas.js'
import { IdempotencyKeyHeader } from '../idempotency/schemas.js'
import * as service from './service.js'

const tags = ['products']
const ConditionalHeaders = Type.Object({ 'if-match': Type.Optional(Type.String({ maxLength: 1024 })) })
const IdempotentHeaders = Type.Object({ 'idempotency-key': IdempotencyKeyHeader })
const IdempotentConditionalHeaders = Type.Object({ ...ConditionalHeaders.properties, 'idempotency-key': IdempotencyKeyHeader })

const products: FastifyPluginAsyncTypebox = async (app) => {
  const deps = { db: app.db, cursors: app.cursors }
  const canWrite = app.authorize('editor', 'admin')
  const canDelete = app.authorize('admin')

  app.get(
    '/products',
    {
      config: { operation: ['product', 'list'] },
      schema: {
        tags,
        summary: 'List products (keyset pagination)',
        querystring: ListProductsQuerySchema,
        response: { 200: PageOf(ProductSchema), ...errorResponses(400) }
      }
    },
    async (request, reply) => {
      const page = await service.listProducts(deps, request.query)
      return { success: true as const, data: page.items, pagination: paginate(request, reply, page.nextCursor) }
    }
  )

  app.get(
    '/products/:id',
    {
      config: { operation: ['product', 'read'] },
      schema: {
        tags,
        summary: 'Get a product (ETag; If-None-Match → 304)',
        params: IdParams,
        response: { 200: Ok(ProductSchema), 304: Type.Null({ description: 'Not modified' }), ...errorResponses(400, 404) }
      }
    },
    async (request, reply) => {
      const product = await service.getProduct(deps, request.params.id)
      const etag = etagOf(product.id, product.version)
      reply.header('etag', etag)
      if (ifNoneMatchHits(request.headers['if-none-match'], etag)) return reply.code(304).send(null)
      return { success: true as const, data: product }
    }
  )

  app.post(
    '/products',
    {
      config: { operation: ['product', 'create'] },
      onRequest: canWrite,
      schema: {
        tags,
        summary: 'Create a product (editor or admin)',
        security: [{ bearerAuth: [] }],
        headers: IdempotentHeaders,
        body: CreateProductSchema,
        response: { 201: Ok(ProductSchema), ...errorResponses(400, 401, 403, 409, 413, 415, 422) }
      }
    },
    async (request, reply) => {
      const product = await service.createProduct(deps, request.body, app.audit.context(request, 201))
      reply.code(201).header('location', `/api/v1/products/${product.id}`).header('etag', etagOf(product.id, product.version))
      return { success: true as const, data: product }
    }
  )

  app.patch(
    '/products/:id',
    {
      config: { operation: ['product', 'update'] },
      onRequest: canWrite,
      schema: {
        tags,
        summary: 'Update some fields of a product (editor or admin; If-Match for optimistic locking)',
        security: [{ bearerAuth: [] }],
        params: IdParams,
        headers: IdempotentConditionalHeaders,
        body: UpdateProductSchema,
        response: { 200: Ok(ProductSchema), ...errorResponses(400, 401, 403, 404, 409, 412, 413, 415, 422) }
      }
    },
    async (request, reply) => {
      const product = await service.updateProduct(
        deps,
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
      config: { operation: ['product', 'delete'] },
      onRequest: canDelete,
      schema: {
        tags,
        summary: 'Delete a product (admin; If-Match for optimistic locking)',
        security: [{ bearerAuth: [] }],
        params: IdParams,
        headers: ConditionalHeaders,
        response: { 204: Type.Null({ description: 'Deleted' }), ...errorResponses(400, 401, 403, 404, 412) }
      }
    },
    async (request, reply) => {
      await service.deleteProduct(deps, request.params.id, request.headers['if-match'], app.audit.context(request))
      return reply.code(204).send(null)
    }
  )
}

export default products
