import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { sendCreated, sendVersioned } from '../../cache/cached-read.js'
import { Type } from 'typebox'
import { withHeaders } from '../../lib/openapi/headers.js'
import { ConditionalHeaders, IdempotentConditionalHeaders } from '../../lib/request-headers.js'
import { Id, IdParams, Ok, errorResponses } from '../../lib/schemas.js'
import { changesProduct } from './index.js'
import {
  CreateVariantSchema,
  ProductSchema,
  ReplaceMediaSchema,
  StockAdjustmentSchema,
  UpdateVariantSchema,
  VariantSchema
} from './schemas.js'
import type { ProductDeps } from './service.js'
import * as variants from './variant-service.js'

const VariantParams = Type.Object({ id: Id, variantId: Id }, { additionalProperties: false })
const tags = ['products']

/** The writes below a product: its variants, their stock, its media. Each moves the product's version. */
const variantRoutes: FastifyPluginAsyncTypebox<{ deps: (request: FastifyRequest) => ProductDeps }> = async (
  app,
  { deps }
) => {
  const canWrite = app.authorizeWrite('editor', 'admin')
  const security = [{ bearerAuth: [] }]

  app.post(
    '/products/:id/variants',
    {
      config: { operation: ['variant', 'create'], invalidates: changesProduct },
      onRequest: canWrite,
      schema: {
        tags,
        operationId: 'createVariant',
        summary: 'Add a variant (editor or admin; If-Match: the product’s ETag)',
        security,
        params: IdParams,
        headers: IdempotentConditionalHeaders,
        body: CreateVariantSchema,
        response: {
          201: withHeaders(Ok(VariantSchema), 'Location', 'ETag'),
          ...errorResponses('PRODUCT_NOT_FOUND', 'SKU_TAKEN', 'INVALID_OPTION_VALUES', 'PRECONDITION_FAILED')
        }
      }
    },
    async (request, reply) => {
      const variant = await variants.createVariant(
        deps(request),
        request.params.id,
        request.body,
        request.headers['if-match'],
        app.audit.context(request, 201)
      )
      return sendCreated(reply, `/api/v1/products/${request.params.id}/variants/${variant.id}`, variant)
    }
  )

  app.patch(
    '/products/:id/variants/:variantId',
    {
      config: { operation: ['variant', 'update'], invalidates: changesProduct },
      onRequest: canWrite,
      schema: {
        tags,
        operationId: 'updateVariant',
        summary: 'Update a variant; stock is absolute here (editor or admin; If-Match: the variant’s ETag)',
        security,
        params: VariantParams,
        headers: IdempotentConditionalHeaders,
        body: UpdateVariantSchema,
        response: {
          200: withHeaders(Ok(VariantSchema), 'ETag'),
          ...errorResponses(
            'PRODUCT_NOT_FOUND',
            'VARIANT_NOT_FOUND',
            'SKU_TAKEN',
            'INVALID_OPTION_VALUES',
            'PRECONDITION_FAILED'
          )
        }
      }
    },
    async (request, reply) => {
      const variant = await variants.updateVariant(
        deps(request),
        request.params.id,
        request.params.variantId,
        request.body,
        request.headers['if-match'],
        app.audit.context(request, 200)
      )
      return sendVersioned(reply, variant)
    }
  )

  app.delete(
    '/products/:id/variants/:variantId',
    {
      config: { operation: ['variant', 'delete'], invalidates: changesProduct },
      onRequest: canWrite,
      schema: {
        tags,
        operationId: 'deleteVariant',
        summary: 'Delete a variant; not the last one (editor or admin; If-Match: the variant’s ETag)',
        security,
        params: VariantParams,
        headers: ConditionalHeaders,
        response: {
          204: Type.Null({ description: 'Deleted' }),
          ...errorResponses('PRODUCT_NOT_FOUND', 'VARIANT_NOT_FOUND', 'LAST_VARIANT', 'PRECONDITION_FAILED')
        }
      }
    },
    async (request, reply) => {
      await variants.deleteVariant(
        deps(request),
        request.params.id,
        request.params.variantId,
        request.headers['if-match'],
        app.audit.context(request)
      )
      return reply.code(204).send(null)
    }
  )

  app.post(
    '/products/:id/variants/:variantId/stock-adjustments',
    {
      config: { operation: ['variant', 'adjust-stock'], invalidates: changesProduct },
      onRequest: canWrite,
      schema: {
        tags,
        operationId: 'adjustVariantStock',
        summary: 'Add or take stock atomically; never below 0 (editor or admin; Idempotency-Key makes a retry safe)',
        security,
        params: VariantParams,
        headers: IdempotentConditionalHeaders,
        body: StockAdjustmentSchema,
        response: {
          200: withHeaders(Ok(VariantSchema), 'ETag'),
          ...errorResponses('PRODUCT_NOT_FOUND', 'VARIANT_NOT_FOUND', 'INSUFFICIENT_STOCK', 'PRECONDITION_FAILED')
        }
      }
    },
    async (request, reply) => {
      const variant = await variants.adjustStock(
        deps(request),
        request.params.id,
        request.params.variantId,
        request.body,
        request.headers['if-match'],
        app.audit.context(request, 200)
      )
      return sendVersioned(reply, variant)
    }
  )

  app.put(
    '/products/:id/media',
    {
      config: { operation: ['product', 'replace-media'], invalidates: changesProduct },
      onRequest: canWrite,
      schema: {
        tags,
        operationId: 'replaceProductMedia',
        summary: 'Replace the product’s ordered media list in one call (editor or admin; If-Match: the product’s ETag)',
        security,
        params: IdParams,
        headers: IdempotentConditionalHeaders,
        body: ReplaceMediaSchema,
        response: {
          200: withHeaders(Ok(ProductSchema), 'ETag'),
          ...errorResponses('PRODUCT_NOT_FOUND', 'PRECONDITION_FAILED')
        }
      }
    },
    async (request, reply) => {
      const product = await variants.replaceMedia(
        deps(request),
        request.params.id,
        request.body,
        request.headers['if-match'],
        app.audit.context(request, 200)
      )
      return sendVersioned(reply, product)
    }
  )
}

export default variantRoutes
