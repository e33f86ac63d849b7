import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import {
  entityReadResponses,
  readDocument,
  readDocumentPage,
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
import { CreateProductSchema, ListProductsQuerySchema, ProductSchema, UpdateProductSchema } from './schemas.js'
import * as service from './service.js'
import variantRoutes from './variant-routes.js'
import { variantPatchCoalescer } from './variant-service.js'
import { databaseUnavailable } from '../../db/errors.js'

// Cache tags: a product's own entries, and every list page and by-slug read (category filters also depend on the
// tree). Anonymous and storefront readers share entries; editor and admin reads (which see drafts) have their own.
export const productTag = (id: number) => `product:${id}`
const listTags = (categoryId?: number) => (categoryId === undefined ? ['products'] : ['products', 'categories'])
const changesList = () => ['products']
export const changesProduct = (request: { params: unknown }) => [
  'products',
  productTag((request.params as { id: number }).id)
]

const tags = ['products']

/** What the request's key may see: drafts and archived products only with an editor or admin key. */
export const visibilityOf = (request: FastifyRequest): service.Visibility =>
  request.principal?.role === 'editor' || request.principal?.role === 'admin' ? 'all' : 'public'

const products: FastifyPluginAsyncTypebox = async (app) => {
  const defaultCurrency = app.appOptions.config.DEFAULT_CURRENCY
  // A cache miss reads where the cache's fill context allows; everything else as the request's token asks.
  const fillDeps = (context: ReadContext) => ({ db: app.db.scoped(context), cursors: app.cursors, defaultCurrency })
  // Concurrent creates and variant PATCHes share transactions once WRITE_BATCHES_IN_FLIGHT of their kind are
  // running (writes/coalescer.ts).
  const { WRITE_BATCH_MAX, WRITE_BATCHES_IN_FLIGHT, WRITE_BATCH_GATHER_MS, DB_CONNECTION_TIMEOUT } =
    app.appOptions.config
  // A write waits for its turn at most as long as for a pool connection, and is then answered as that wait would be.
  const batching = {
    inFlight: WRITE_BATCHES_IN_FLIGHT,
    maxBatch: WRITE_BATCH_MAX,
    gatherMs: WRITE_BATCH_GATHER_MS,
    maxWait: { ms: DB_CONNECTION_TIMEOUT, error: databaseUnavailable }
  }
  const { batchSize, retriedAlone } = app.metrics.writeBatches
  const observe = (kind: string) => ({
    ran: (size: number) => batchSize.observe({ kind }, size),
    retriedAlone: (calls: number) => retriedAlone.inc({ kind }, calls)
  })
  const creates = service.createCoalescer({ ...batching, observe: observe('create') })
  const variantPatches = variantPatchCoalescer({ ...batching, observe: observe('variant_patch') })
  app.metrics.writeBatches.waitingOf.set('create', () => creates.waitingCount)
  app.metrics.writeBatches.waitingOf.set('variant_patch', () => variantPatches.waitingCount)
  const requestDeps = (request: FastifyRequest): service.ProductDeps => ({
    db: app.dbFor(request),
    cursors: app.cursors,
    defaultCurrency,
    creates,
    variantPatches
  })
  const canWrite = app.authorizeWrite('editor', 'admin')
  const canDelete = app.authorizeWrite('admin')
  const scope = (request: FastifyRequest) => (visibilityOf(request) === 'all' ? 'all:' : '')

  app.get(
    '/products',
    {
      config: { operation: ['product', 'list'], publicRead: true },
      onRequest: app.identify,
      schema: {
        tags,
        operationId: 'listProducts',
        summary: 'List products with their variants, prices and media (keyset pagination)',
        description:
          'Anonymous and storefront readers see active products only; status=draft|archived needs an editor or admin key.',
        security: [{}, { bearerAuth: [] }],
        querystring: ListProductsQuerySchema,
        response: { 200: withHeaders(PageOf(ProductSchema), 'Link'), ...errorResponses('FORBIDDEN') }
      }
    },
    (request, reply) =>
      readDocumentPage(
        reply,
        {
          cache: app.cache,
          key: `products:${scope(request)}${request.url}`,
          options: { name: 'product-list', tags: listTags(request.query.categoryId) }
        },
        (context) => service.listProducts(fillDeps(context), request.query, visibilityOf(request))
      )
  )

  app.get(
    '/products/:id',
    {
      config: { operation: ['product', 'read'], publicRead: true },
      onRequest: app.identify,
      schema: {
        tags,
        operationId: 'getProduct',
        summary: 'Get a product (ETag; If-None-Match → 304; a non-active one only with an editor or admin key)',
        security: [{}, { bearerAuth: [] }],
        params: IdParams,
        headers: CacheHeaders,
        response: entityReadResponses(ProductSchema, 'PRODUCT_NOT_FOUND')
      }
    },
    (request, reply) =>
      readDocument(
        reply,
        {
          cache: app.cache,
          key: `${productTag(request.params.id)}:${scope(request)}`,
          options: { name: 'product', tags: [productTag(request.params.id)] }
        },
        (context) => service.getProduct(fillDeps(context), request.params.id, visibilityOf(request))
      )
  )

  app.get(
    '/products/by-slug/:slug',
    {
      config: { operation: ['product', 'read'], publicRead: true },
      onRequest: app.identify,
      schema: {
        tags,
        operationId: 'getProductBySlug',
        summary: 'Get a product by its slug (ETag; If-None-Match → 304)',
        security: [{}, { bearerAuth: [] }],
        params: SlugParams,
        headers: CacheHeaders,
        response: entityReadResponses(ProductSchema, 'PRODUCT_NOT_FOUND')
      }
    },
    (request, reply) =>
      readDocument(
        reply,
        {
          cache: app.cache,
          key: `product-slug:${scope(request)}${request.params.slug}`,
          options: { name: 'product', tags: ['products'] }
        },
        (context) => service.getProductBySlug(fillDeps(context), request.params.slug, visibilityOf(request))
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
        summary: 'Create a product with its options, variants and media in one transaction (editor or admin)',
        security: [{ bearerAuth: [] }],
        headers: IdempotentHeaders,
        body: CreateProductSchema,
        response: {
          201: withHeaders(Ok(ProductSchema), 'Location', 'ETag'),
          ...errorResponses('SKU_TAKEN', 'SLUG_TAKEN', 'UNKNOWN_CATEGORY', 'INVALID_OPTION_VALUES')
        }
      }
    },
    async (request, reply) => {
      const product = await service.createProduct(requestDeps(request), request.body, app.audit.context(request, 201))
      return sendCreated(reply, `/api/v1/products/${product.id}`, product)
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
        summary: 'Update the product’s own fields (editor or admin; If-Match: the product’s ETag)',
        security: [{ bearerAuth: [] }],
        params: IdParams,
        headers: IdempotentConditionalHeaders,
        body: UpdateProductSchema,
        response: {
          200: withHeaders(Ok(ProductSchema), 'ETag'),
          ...errorResponses('PRODUCT_NOT_FOUND', 'SLUG_TAKEN', 'UNKNOWN_CATEGORY', 'PRECONDITION_FAILED')
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
      return sendVersioned(reply, product)
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
        summary: 'Delete a product with its variants (admin; If-Match: the product’s ETag)',
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

  await app.register(variantRoutes, { deps: requestDeps })
}

export default products
