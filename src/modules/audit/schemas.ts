import { type Static, Type } from 'typebox'
import { Id, Int32, Out, PageQuery, Text, Timestamp } from '../../lib/schemas.js'

export const AuditActionSchema = Type.Enum(['create', 'update', 'delete'])
export const EntityTypeSchema = Type.Enum(['product', 'category', 'api_key', 'variant', 'media'])
const Values = Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()], {
  description: 'The entity as it was (oldValues) or became (newValues); null on create (old) and on delete (new)'
})
const Sha256Hex = (description: string) =>
  Type.String({ minLength: 64, maxLength: 64, pattern: '^[0-9a-f]{64}$', description })

export const AuditEntrySchema = Type.Object(
  {
    id: Int32({ minimum: 1, description: 'Entry id (increasing in write order, with gaps; not the chain position)' }),
    occurredAt: Timestamp,
    action: AuditActionSchema,
    entityType: EntityTypeSchema,
    entityId: Id,
    actor: Type.Object({
      type: Type.Enum(['api_key', 'system'], {
        description: 'api_key for HTTP requests; system for the CLI and BOOTSTRAP_ADMIN_API_KEY'
      }),
      id: Type.Union([Id, Type.Null()], { description: 'API key id' }),
      name: Out(100),
      role: Type.Union([Out(20), Type.Null()])
    }),
    ip: Type.Union([Out(64), Type.Null()], { description: 'Client IP as TRUST_PROXY resolves it' }),
    userAgent: Type.Union([Out(512), Type.Null()]),
    requestId: Type.Union([Out(128), Type.Null()]),
    oldValues: Values,
    newValues: Values,
    changedFields: Type.Array(Out(64), { maxItems: 64 }),
    position: Type.Union(
      [Type.Integer({ format: 'int64', minimum: 1, maximum: Number.MAX_SAFE_INTEGER }), Type.Null()],
      {
        description: 'Position in the hash chain once sealed (shortly after the write commits); null until then'
      }
    ),
    prevHash: Type.Union([
      Sha256Hex('Hex SHA-256 of the entry before this one in the chain; null until sealed'),
      Type.Null()
    ]),
    hash: Type.Union([Sha256Hex('Hex SHA-256 over prevHash and this entry; null until sealed'), Type.Null()])
  },
  { additionalProperties: false, title: 'AuditEntry' }
)
export type AuditEntry = Static<typeof AuditEntrySchema>

export const ListAuditLogsQuerySchema = Type.Object(
  {
    ...PageQuery,
    entityType: Type.Optional(EntityTypeSchema),
    entityId: Type.Optional(Id),
    action: Type.Optional(AuditActionSchema),
    actorId: Type.Optional(Int32({ minimum: 1, description: 'API key id of the actor' })),
    requestId: Type.Optional(Text({ minLength: 1, maxLength: 128 })),
    from: Type.Optional(
      Type.String({ format: 'date-time', maxLength: 40, description: 'Entries at or after this time' })
    ),
    to: Type.Optional(Type.String({ format: 'date-time', maxLength: 40, description: 'Entries before this time' }))
  },
  { additionalProperties: false }
)
export type ListAuditLogsQuery = Static<typeof ListAuditLogsQuerySchema>
