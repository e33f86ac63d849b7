import { type TSchema, Type } from 'typebox'

/**
 * Text PostgreSQL can store as sent: no NUL (refused with SQLSTATE 22021, a 500 if it got that far) and no
 * unpaired UTF-16 surrogate (silently turned into U+FFFD otherwise).
 */
export const TEXT_PATTERN = '^[^\\u0000\\uD800-\\uDFFF]*$'

export const Text = (options: { minLength?: number; maxLength: number; description?: string }) =>
  Type.String({ ...options, pattern: TEXT_PATTERN })

export const NAME_PATTERN = '^(?=[\\s\\S]*\\S)[^\\u0000\\uD800-\\uDFFF]*$'

/** A display name: text with at least one visible character. */
export const Name = (maxLength: number) => Type.String({ minLength: 1, maxLength, pattern: NAME_PATTERN })

export const Slug = Type.String({
  minLength: 1,
  maxLength: 120,
  pattern: '^[a-z0-9]+(-[a-z0-9]+)*$',
  description: 'lower-case letters, digits and single dashes'
})

export const Id = Type.Integer({ minimum: 1, maximum: 2_147_483_647 })

export const IdParams = Type.Object({ id: Id }, { additionalProperties: false })

export const Timestamp = Type.String({ format: 'date-time' })

export const FieldErrorSchema = Type.Object({ field: Type.String(), message: Type.String() })

export const ProblemSchema = Type.Object(
  {
    success: Type.Literal(false),
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: 'Stable error code, e.g. SKU_TAKEN' }),
    requestId: Type.String(),
    instance: Type.Optional(Type.String()),
    errors: Type.Optional(Type.Array(FieldErrorSchema))
  },
  { $id: 'Problem', description: 'RFC 9457 problem details (application/problem+json)' }
)

const problemRef = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: Type.Ref('Problem') } }
})

const STATUS_TEXT: Record<number, string> = {
  400: 'Validation failed or malformed request',
  401: 'Missing, unknown or revoked API key',
  403: 'The API key role may not do this',
  404: 'Not found',
  409: 'Conflict with the current state',
  412: 'If-Match does not match the current version',
  413: 'Body too large',
  415: 'Unsupported media type',
  422: 'A referenced resource does not exist, or the Idempotency-Key was used for another request',
  429: 'Rate limit exceeded',
  503: 'A dependency is unavailable; retry after Retry-After'
}

/** OpenAPI entries for the error statuses a route can answer (documentation only: errors are serialized by the error handler). */
export function errorResponses(...statuses: number[]): Record<number, unknown> {
  return Object.fromEntries([...statuses, 503].map((s) => [s, problemRef(STATUS_TEXT[s] ?? 'Error')]))
}

export const Ok = <T extends TSchema>(data: T) =>
  Type.Object({ success: Type.Literal(true), data }, { additionalProperties: false })

export const PageOf = <T extends TSchema>(item: T) =>
  Type.Object({
    success: Type.Literal(true),
    data: Type.Array(item),
    pagination: Type.Object({
      cursor: Type.Union([Type.String(), Type.Null()], {
        description: 'Pass as `cursor` for the next page; null on the last page'
      }),
      hasMore: Type.Boolean()
    })
  })

export const PageQuery = {
  // Long enough for a cursor holding a 200-character name of 4-byte characters.
  cursor: Type.Optional(
    Type.String({ minLength: 1, maxLength: 2048, description: 'Opaque cursor from pagination.cursor' })
  ),
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 })
}
