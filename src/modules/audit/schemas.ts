import { type Static, Type } from 'typebox'
import { Id, PageQuery, Text, Timestamp } from '../../lib/schemas.js'

export const AuditActionSchema = Type.Enum(['create', 'update', 'delete'])
export const EntityTypeSchema = Type.Enum(['product', 'category', 'api_key'])
const Values = Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()])

export const AuditEntrySchema = Type.Object(
  {
    id: Type.Integer({ description: 'Entry id (increasing in write order, with gaps; not the chain position)' }),
    occurredAt: Timestamp,
    action: AuditActionSchema,
    entityType: EntityTypeSchema,
    entityId: Type.Integer(),
    actor: Type.Object({
      type: Type.Enum(['api_key', 'system'], {
        description: 'api_key for HTTP requests; system for the CLI and BOOTSTRAP_ADMIN_API_KEY'
      }),
      id: Type.Union([Type.Integer(), Type.Null()], { description: 'API key id' }),
      name: Type.String(),
      role: Type.Union([Type.String(), Type.Null()])
    }),
    ip: Type.Union([Type.String(), Type.Null()], { description: 'Client IP as TRUST_PROXY resolves it' }),
    userAgent: Type.Union([Type.String(), Type.Null()]),
    requestId: Type.Union([Type.String(), Type.Null()]),
    oldValues: Values,
    newValues: Values,
    changedFields: Type.Array(Type.String()),
    position: Type.Union([Type.Integer(), Type.Null()], {
      description: 'Position in the hash chain once sealed (shortly after the write commits); null until then'
    }),
    prevHash: Type.Union([Type.String(), Type.Null()], {
      description: 'Hex SHA-256 of the entry before this one in the chain; null until sealed'
    }),
    hash: Type.Union([Type.String(), Type.Null()], {
      description: 'Hex SHA-256 over prevHash and this entry; null until sealed'
    })
  },
  { additionalProperties: false }
)
export type AuditEntry = Static<typeof AuditEntrySchema>

export const ListAuditLogsQuerySchema = Type.Object(
  {
    ...PageQuery,
    entityType: Type.Optional(EntityTypeSchema),
    entityId: Type.Optional(Id),
    action: Type.Optional(AuditActionSchema),
    actorId: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 2_147_483_647, description: 'API key id of the actor' })
    ),
    requestId: Type.Optional(Text({ minLength: 1, maxLength: 128 })),
    from: Type.Optional(Type.String({ format: 'date-time', description: 'Entries at or after this time' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'Entries before this time' }))
  },
  { additionalProperties: false }
)
export type ListAuditLogsQuery = Static<typeof ListAuditLogsQuerySchema>
