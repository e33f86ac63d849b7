import { type Static, Type } from 'typebox'
import { Id, Out, Timestamp } from '../../lib/schemas.js'

export const EVENTS_PAGE_MAX = 1000
export const WAIT_MAX_SECONDS = 30

const Position = (description: string) =>
  Type.Integer({ format: 'int64', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description })

// `product.created`, `variant.stock_changed`, or `product.*` for every type of an entity.
const TYPE = '[a-z][a-z0-9_]*\\.(?:\\*|[a-z][a-z0-9_]*)'

export const ChangeEventSchema = Type.Object(
  {
    id: Position('Feed position: increasing in commit order; pass the last one you processed as `after`'),
    type: Out(100, '<entity>.created | .updated | .deleted | .stock_changed, category.moved'),
    occurredAt: Timestamp,
    entity: Type.Object({ type: Out(50), id: Id }, { additionalProperties: false }),
    data: Type.Union(
      [Type.Unsafe<Record<string, unknown>>(Type.Object({}, { additionalProperties: true })), Type.Null()],
      {
        description: 'The entity as the API shows it after the change; before it, for deletes'
      }
    ),
    changedFields: Type.Array(Out(64), { maxItems: 64 }),
    requestId: Type.Union([Out(128), Type.Null()], { description: 'X-Request-Id of the request that made the change' }),
    actor: Type.Object(
      {
        type: Type.Enum(['api_key', 'system']),
        id: Type.Union([Id, Type.Null()], { description: 'API key id' }),
        name: Out(100),
        role: Type.Union([Out(20), Type.Null()])
      },
      { additionalProperties: false }
    )
  },
  { additionalProperties: false, title: 'ChangeEvent' }
)
export type ChangeEventOut = Static<typeof ChangeEventSchema>

export const EventFeedSchema = Type.Object(
  {
    success: Type.Literal(true),
    data: Type.Array(ChangeEventSchema, { maxItems: EVENTS_PAGE_MAX }),
    nextCursor: Position('Pass as `after` for the next request (the last event returned, or the `after` you sent)')
  },
  { additionalProperties: false, title: 'EventFeed' }
)

export const ListEventsQuerySchema = Type.Object(
  {
    after: Type.Optional(
      Position(
        'Events after this position (the `id` of the last event you processed); omit to start at the oldest kept'
      )
    ),
    types: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1000,
        pattern: `^${TYPE}(?:,${TYPE})*$`,
        description: 'Comma-separated event types, `product.*` for all of an entity; omit for all'
      })
    ),
    limit: Type.Integer({ format: 'int32', minimum: 1, maximum: EVENTS_PAGE_MAX, default: 100 }),
    wait: Type.Integer({
      format: 'int32',
      minimum: 0,
      maximum: WAIT_MAX_SECONDS,
      default: 0,
      description: 'Long poll: with no event after `after`, wait up to this many seconds for one'
    })
  },
  { additionalProperties: false }
)
export type ListEventsQuery = Static<typeof ListEventsQuerySchema>
