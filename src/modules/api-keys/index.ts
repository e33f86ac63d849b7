import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { withHeaders } from '../../lib/openapi/headers.js'
import { paginate } from '../../lib/pagination.js'
import { IdParams, Ok, PageOf, errorResponses } from '../../lib/schemas.js'
import { ApiKeySchema, CreateApiKeySchema, CreatedApiKeySchema, ListApiKeysQuerySchema } from './schemas.js'
import * as service from './service.js'

const tags = ['api-keys']
const security = [{ bearerAuth: [] }]

const apiKeys: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authorize('admin'))

  app.get(
    '/api-keys',
    {
      schema: {
        tags,
        security,
        operationId: 'listApiKeys',
        summary: 'List API keys, oldest first (admin; keyset pagination)',
        querystring: ListApiKeysQuerySchema,
        response: { 200: withHeaders(PageOf(ApiKeySchema), 'Link') }
      }
    },
    async (request, reply) => {
      // The primary: a key just created or revoked shows as it is now.
      const page = await service.listApiKeys(app.db.primary, app.cursors, request.query)
      return { success: true as const, data: page.items, pagination: paginate(request, reply, page.nextCursor) }
    }
  )

  app.post(
    '/api-keys',
    {
      schema: {
        tags,
        security,
        operationId: 'createApiKey',
        summary: 'Create an API key (admin); the key is returned once',
        body: CreateApiKeySchema,
        response: { 201: Ok(CreatedApiKeySchema) }
      }
    },
    async (request, reply) => {
      reply.code(201)
      return {
        success: true as const,
        data: await service.createApiKey(app.dbFor(request), request.body, app.audit.context(request))
      }
    }
  )

  app.delete(
    '/api-keys/:id',
    {
      schema: {
        tags,
        security,
        operationId: 'revokeApiKey',
        summary: 'Revoke an API key (admin)',
        params: IdParams,
        response: { 200: Ok(ApiKeySchema), ...errorResponses('API_KEY_NOT_FOUND') }
      }
    },
    async (request) => {
      const data = await service.revokeApiKey(app.dbFor(request), request.params.id, app.audit.context(request))
      // Auth refuses it at once everywhere; rate limiting here stops counting it as a key at once too.
      app.identities.forget(data.id)
      return { success: true as const, data }
    }
  )
}

export default apiKeys
