import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { IdParams, Ok, errorResponses } from '../../lib/schemas.js'
import { ApiKeySchema, CreateApiKeySchema, CreatedApiKeySchema } from './schemas.js'
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
        summary: 'List API keys (admin)',
        response: { 200: Ok(Type.Array(ApiKeySchema)), ...errorResponses(401, 403) }
      }
    },
    async () => ({ success: true as const, data: await service.listApiKeys(app.db.primary) })
  )

  app.post(
    '/api-keys',
    {
      schema: {
        tags,
        security,
        summary: 'Create an API key (admin); the key is returned once',
        body: CreateApiKeySchema,
        response: { 201: Ok(CreatedApiKeySchema), ...errorResponses(400, 401, 403) }
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
        summary: 'Revoke an API key (admin)',
        params: IdParams,
        response: { 200: Ok(ApiKeySchema), ...errorResponses(400, 401, 403, 404) }
      }
    },
    async (request) => ({
      success: true as const,
      data: await service.revokeApiKey(app.dbFor(request), request.params.id, app.audit.context(request))
    })
  )
}

export default apiKeys
