import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { IdParams, Ok, errorResponses } from '../../lib/schemas.js'
import {
  AttemptSchema,
  CreateWebhookSchema,
  DeliveryListSchema,
  DeliveryParams,
  DeliverySchema,
  ListDeliveriesQuerySchema,
  UpdateWebhookSchema,
  WebhookListSchema,
  WebhookSchema,
  WebhookWithSecretSchema
} from './schemas.js'
import * as service from './service.js'

const tags = ['webhooks']
const security = [{ bearerAuth: [] }]

const webhooks: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authorize('admin'))
  const deps = () => ({ db: app.db.primary, policy: app.webhooks.policy, send: app.webhooks.send })

  app.post(
    '/webhooks',
    {
      schema: {
        tags,
        security,
        operationId: 'createWebhook',
        summary: 'Subscribe a URL to change events (admin); the signing secret is returned once',
        body: CreateWebhookSchema,
        response: { 201: Ok(WebhookWithSecretSchema), ...errorResponses('WEBHOOK_URL_REFUSED') }
      }
    },
    async (request, reply) => {
      reply.code(201)
      return { success: true as const, data: await service.createWebhook(deps(), request.body) }
    }
  )

  app.get(
    '/webhooks',
    {
      schema: {
        tags,
        security,
        operationId: 'listWebhooks',
        summary: 'List webhook subscriptions, oldest first (admin; never the secret)',
        response: { 200: WebhookListSchema }
      }
    },
    async () => ({ success: true as const, data: await service.listWebhooks(deps()) })
  )

  app.get(
    '/webhooks/:id',
    {
      schema: {
        tags,
        security,
        operationId: 'getWebhook',
        summary: 'One webhook subscription (admin)',
        params: IdParams,
        response: { 200: Ok(WebhookSchema), ...errorResponses('WEBHOOK_NOT_FOUND') }
      }
    },
    async (request) => ({ success: true as const, data: await service.getWebhook(deps(), request.params.id) })
  )

  app.patch(
    '/webhooks/:id',
    {
      schema: {
        tags,
        security,
        operationId: 'updateWebhook',
        summary: 'Change URL, event types or description; pause or resume (admin)',
        params: IdParams,
        body: UpdateWebhookSchema,
        response: { 200: Ok(WebhookSchema), ...errorResponses('WEBHOOK_NOT_FOUND', 'WEBHOOK_URL_REFUSED') }
      }
    },
    async (request) => ({
      success: true as const,
      data: await service.updateWebhook(deps(), request.params.id, request.body)
    })
  )

  app.delete(
    '/webhooks/:id',
    {
      schema: {
        tags,
        security,
        operationId: 'deleteWebhook',
        summary: 'Delete a subscription and its deliveries (admin)',
        params: IdParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...errorResponses('WEBHOOK_NOT_FOUND') }
      }
    },
    async (request, reply) => {
      await service.deleteWebhook(deps(), request.params.id)
      return reply.code(204).send(null)
    }
  )

  app.post(
    '/webhooks/:id/rotate-secret',
    {
      schema: {
        tags,
        security,
        operationId: 'rotateWebhookSecret',
        summary: 'New signing secret, returned once; the old one keeps signing too for 24 h (admin)',
        params: IdParams,
        response: { 200: Ok(WebhookWithSecretSchema), ...errorResponses('WEBHOOK_NOT_FOUND') }
      }
    },
    async (request) => ({ success: true as const, data: await service.rotateSecret(deps(), request.params.id) })
  )

  app.post(
    '/webhooks/:id/test',
    {
      schema: {
        tags,
        security,
        operationId: 'testWebhook',
        summary: 'Send a signed webhook.test event now and show how the receiver answered (admin)',
        params: IdParams,
        response: { 200: Ok(AttemptSchema), ...errorResponses('WEBHOOK_NOT_FOUND') }
      }
    },
    async (request) => ({
      success: true as const,
      data: await service.testWebhook(deps(), request.params.id, request.id)
    })
  )

  app.get(
    '/webhooks/:id/deliveries',
    {
      schema: {
        tags,
        security,
        operationId: 'listWebhookDeliveries',
        summary: 'The newest deliveries with their attempts: outcome, duration, response code, first 1 KB (admin)',
        params: IdParams,
        querystring: ListDeliveriesQuerySchema,
        response: { 200: DeliveryListSchema, ...errorResponses('WEBHOOK_NOT_FOUND') }
      }
    },
    async (request) => ({
      success: true as const,
      data: await service.listDeliveries(deps(), request.params.id, request.query)
    })
  )

  app.post(
    '/webhooks/:id/deliveries/:deliveryId/retry',
    {
      schema: {
        tags,
        security,
        operationId: 'retryWebhookDelivery',
        summary: 'Make a delivery due again now, whatever its state (admin)',
        params: DeliveryParams,
        response: { 202: Ok(DeliverySchema), ...errorResponses('WEBHOOK_NOT_FOUND', 'DELIVERY_NOT_FOUND') }
      }
    },
    async (request, reply) => {
      reply.code(202)
      return {
        success: true as const,
        data: await service.retryDelivery(deps(), request.params.id, request.params.deliveryId)
      }
    }
  )
}

export default webhooks
