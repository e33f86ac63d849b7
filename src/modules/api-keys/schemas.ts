import { type Static, Type } from 'typebox'
import { Id, Out, PageQuery, Text, Timestamp } from '../../lib/schemas.js'

import { ROLES } from '../../db/api-keys.js'

export { ROLES, type Role } from '../../db/api-keys.js'
export const RoleSchema = Type.Enum([...ROLES], {
  description:
    'admin: everything; editor: catalog writes and drafts; storefront: reads of active products only; events: the change feed only'
})

export const ApiKeySchema = Type.Object(
  {
    id: Id,
    name: Out(100),
    role: RoleSchema,
    prefix: Out(10, 'First characters of the key, to recognise it'),
    createdAt: Timestamp,
    lastUsedAt: Type.Union([Timestamp, Type.Null()]),
    revokedAt: Type.Union([Timestamp, Type.Null()])
  },
  { additionalProperties: false, title: 'ApiKey' }
)
export type ApiKey = Static<typeof ApiKeySchema>

export const CreatedApiKeySchema = Type.Object(
  {
    ...ApiKeySchema.properties,
    key: Type.String({
      minLength: 46,
      maxLength: 46,
      pattern: '^ck_[A-Za-z0-9_-]{43}$',
      description: 'The key itself; shown only in this response'
    })
  },
  { additionalProperties: false, title: 'CreatedApiKey' }
)

export const CreateApiKeySchema = Type.Object(
  { name: Text({ minLength: 1, maxLength: 100 }), role: RoleSchema },
  { additionalProperties: false, title: 'CreateApiKey', example: { name: 'storefront sync', role: 'editor' } }
)
export type CreateApiKey = Static<typeof CreateApiKeySchema>

export const ListApiKeysQuerySchema = Type.Object({ ...PageQuery }, { additionalProperties: false })
export type ListApiKeysQuery = Static<typeof ListApiKeysQuerySchema>
