import { type Static, Type } from 'typebox'
import { PageQuery, Text, Timestamp } from '../../lib/schemas.js'

export const ROLES = ['admin', 'editor'] as const
export type Role = (typeof ROLES)[number]
export const RoleSchema = Type.Enum([...ROLES])

export const ApiKeySchema = Type.Object(
  {
    id: Type.Integer(),
    name: Type.String(),
    role: RoleSchema,
    prefix: Type.String({ description: 'First characters of the key, to recognise it' }),
    createdAt: Timestamp,
    lastUsedAt: Type.Union([Timestamp, Type.Null()]),
    revokedAt: Type.Union([Timestamp, Type.Null()])
  },
  { additionalProperties: false }
)
export type ApiKey = Static<typeof ApiKeySchema>

export const CreatedApiKeySchema = Type.Object({
  ...ApiKeySchema.properties,
  key: Type.String({ description: 'The key itself; shown only in this response' })
})

export const CreateApiKeySchema = Type.Object(
  { name: Text({ minLength: 1, maxLength: 100 }), role: RoleSchema },
  { additionalProperties: false }
)
export type CreateApiKey = Static<typeof CreateApiKeySchema>

export const ListApiKeysQuerySchema = Type.Object({ ...PageQuery }, { additionalProperties: false })
export type ListApiKeysQuery = Static<typeof ListApiKeysQuerySchema>
