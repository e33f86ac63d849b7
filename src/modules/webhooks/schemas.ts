import { type Static, Type } from 'typebox'
import { Id, Int32, Out, Text, Timestamp } from '../../lib/schemas.js'

const EVENT_TYPE_PATTERN = '^(?:\\*|[a-z][a-z0-9_]*\\.(?:\\*|[a-z][a-z0-9_]*))$'
const EventTypes = Type.Array(Type.String({ minLength: 1, maxLength: 100, pattern: EVENT_TYPE_PATTERN }), {
  minItems: 1,
  maxItems: 50,
  uniqueItems: true,
  description: 'Event types to receive: `product.created`, `product.*` (all of an entity) or `*` (all)'
})
const Url = Text({ minLength: 1, maxLength: 2048, description: 'https URL that receives POSTed events' })
const WebhookStatusSchema = Type.Enum(['active', 'paused', 'disabled'], {
  description: 'disabled: deliveries failed for the whole retry schedule (see disabledReason); PATCH status to resume'
})
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])

const webhookFields = {
  id: Id,
  url: Out(2048),
  events: Type.Array(Out(100), { maxItems: 50 }),
  description: Nullable(Out(500)),
  status: WebhookStatusSchema,
  disabledReason: Nullable(Out(1000)),
  previousSecretExpiresAt: Type.Union([Timestamp, Type.Null()], {
    description: 'After a secret rotation: until then deliveries are signed with the old secret too'
  }),
  createdAt: Timestamp,
  updatedAt: Timestamp
}

export const WebhookSchema = Type.Object(webhookFields, { additionalProperties: false, title: 'Webhook' })
export type Webhook = Static<typeof WebhookSchema>

export const WebhookWithSecretSchema = Type.Object(
  {
    ...webhookFields,
    secret: Type.String({
      maxLength: 100,
      pattern: '^whsec_[A-Za-z0-9+/=]+$',
      description: 'The signing secret (Standard Webhooks); shown only in this response'
    })
  },
  { additionalProperties: false, title: 'WebhookWithSecret' }
)
export type WebhookWithSecret = Static<typeof WebhookWithSecretSchema>

export const WebhookListSchema = Type.Object(
  { success: Type.Literal(true), data: Type.Array(WebhookSchema, { maxItems: 1000 }) },
  { additionalProperties: false, title: 'WebhookList' }
)

export const CreateWebhookSchema = Type.Object(
  { url: Url, events: EventTypes, description: Type.Optional(Text({ maxLength: 500 })) },
  {
    additionalProperties: false,
    title: 'CreateWebhook',
    example: { url: 'https://search.example.com/hooks/catalog', events: ['product.*'], description: 'search index' }
  }
)
export type CreateWebhook = Static<typeof CreateWebhookSchema>

export const UpdateWebhookSchema = Type.Object(
  {
    url: Type.Optional(Url),
    events: Type.Optional(EventTypes),
    description: Type.Optional(Nullable(Text({ maxLength: 500 }))),
    status: Type.Optional(Type.Enum(['active', 'paused'], { description: 'paused: events queue up, nothing is sent' }))
  },
  { additionalProperties: false, minProperties: 1, title: 'UpdateWebhook', example: { status: 'paused' } }
)
export type UpdateWebhook = Static<typeof UpdateWebhookSchema>

export const AttemptSchema = Type.Object(
  {
    attemptedAt: Timestamp,
    durationMs: Int32(),
    outcome: Type.Enum(['delivered', 'http_error', 'timeout', 'network_error', 'refused']),
    responseCode: Nullable(Int32({ maximum: 999 })),
    responseBody: Type.Union([Out(4096), Type.Null()], { description: 'The first 1 KB of the response' }),
    error: Nullable(Out(1000))
  },
  { additionalProperties: false, title: 'DeliveryAttempt' }
)
export type Attempt = Static<typeof AttemptSchema>

export const DeliverySchema = Type.Object(
  {
    id: Type.Integer({ format: 'int64', minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    eventId: Type.Integer({ format: 'int64', minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    eventType: Out(100),
    status: Type.Enum(['pending', 'delivered', 'failed']),
    attemptCount: Int32(),
    nextAttemptAt: Type.Union([Timestamp, Type.Null()], { description: 'null unless pending' }),
    createdAt: Timestamp,
    deliveredAt: Type.Union([Timestamp, Type.Null()]),
    attempts: Type.Array(AttemptSchema, { maxItems: 100, description: 'The latest attempts, oldest first' })
  },
  { additionalProperties: false, title: 'WebhookDelivery' }
)
export type Delivery = Static<typeof DeliverySchema>

export const DeliveryListSchema = Type.Object(
  { success: Type.Literal(true), data: Type.Array(DeliverySchema, { maxItems: 100 }) },
  { additionalProperties: false, title: 'WebhookDeliveryList' }
)

export const ListDeliveriesQuerySchema = Type.Object(
  {
    status: Type.Optional(Type.Enum(['pending', 'delivered', 'failed'])),
    limit: Int32({ minimum: 1, maximum: 100, default: 20, description: 'The newest this many deliveries' })
  },
  { additionalProperties: false }
)
export type ListDeliveriesQuery = Static<typeof ListDeliveriesQuerySchema>

export const DeliveryParams = Type.Object(
  { id: Id, deliveryId: Type.Integer({ format: 'int64', minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) },
  { additionalProperties: false }
)
