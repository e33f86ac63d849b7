import { type TSchema, Type } from 'typebox'
import { ERRORS, type ErrorCode } from '../errors.js'

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

export const SlugParams = Type.Object({ slug: Slug }, { additionalProperties: false })

export const INT32_MAX = 2_147_483_647

/** A whole number PostgreSQL stores as `integer`. */
export const Int32 = (options: { minimum?: number; maximum?: number; default?: number; description?: string } = {}) =>
  Type.Integer({ format: 'int32', minimum: 0, maximum: INT32_MAX, ...options })

export const Id = Int32({ minimum: 1, description: 'Numeric id' })

export const IdParams = Type.Object({ id: Id }, { additionalProperties: false })

/** The 304 of a cached read whose ETag the client already holds. */
export const NotModified = Type.Null({ description: 'Not modified: the ETag in If-None-Match is current' })

export const Timestamp = Type.String({ format: 'date-time', maxLength: 32, example: '2026-01-15T09:30:00.000Z' })

/** Server-chosen text in a response: bounded by what the write side accepts. */
export const Out = (maxLength: number, description?: string) =>
  Type.String({ maxLength, ...(description ? { description } : {}) })

// A validation problem lists at most this many fields (a body of a thousand unknown fields gets the first ones).
export const MAX_FIELD_ERRORS = 50

export const FieldErrorSchema = Type.Object(
  { field: Out(200, 'The offending field, e.g. priceCents or query.limit'), message: Out(300) },
  { title: 'FieldError' }
)

export const ProblemSchema = Type.Object(
  {
    success: Type.Literal(false),
    type: Type.String({ maxLength: 100, description: 'URI reference of the problem type: /problems#<code>' }),
    title: Out(200),
    status: Type.Integer({ format: 'int32', minimum: 400, maximum: 599 }),
    detail: Out(16_384, 'What went wrong with this request'),
    code: Type.Enum(Object.keys(ERRORS), { description: 'Stable error code, e.g. SKU_TAKEN' }),
    requestId: Out(128, 'Same as the X-Request-Id header'),
    instance: Type.Optional(Out(16_384, 'The request path')),
    errors: Type.Optional(Type.Array(FieldErrorSchema, { maxItems: MAX_FIELD_ERRORS }))
  },
  { $id: 'Problem', description: 'RFC 9457 problem details (application/problem+json)' }
)

/** The problem schema of one status of one operation: `code` is one of the codes it can answer with. */
export const problemOf = (codes: readonly string[], ref = 'Problem') => ({
  allOf: [{ $ref: ref }, { type: 'object', properties: { code: { type: 'string', enum: [...codes] } } }]
})

export const problemResponse = (description: string, codes: readonly string[]) => ({
  description,
  content: { 'application/problem+json': { schema: problemOf(codes) } }
})

/**
 * OpenAPI entries for the errors particular to a route (documentation only: errors are serialized by the error
 * handler). The document's finishing pass adds the ones every route of its kind can answer (see lib/openapi).
 */
export function errorResponses(...codes: ErrorCode[]): Record<number, unknown> {
  const byStatus = new Map<number, ErrorCode[]>()
  for (const code of codes) byStatus.set(ERRORS[code].status, [...(byStatus.get(ERRORS[code].status) ?? []), code])
  return Object.fromEntries(
    [...byStatus].map(([status, list]) => [status, problemResponse(ERRORS[list[0] as ErrorCode].title, list)])
  )
}

/** `{ success: true, data }`; named `<Data>Response` in the OpenAPI document. */
export const Ok = <T extends TSchema>(data: T) =>
  Type.Object(
    { success: Type.Literal(true), data },
    { additionalProperties: false, title: `${(data as { title?: string }).title ?? 'Data'}Response` }
  )

export const PAGE_MAX = 100

export const PaginationSchema = Type.Object(
  {
    cursor: Type.Union([Type.String({ maxLength: 2048 }), Type.Null()], {
      description: 'Pass as `cursor` for the next page; null on the last page'
    }),
    hasMore: Type.Boolean()
  },
  { title: 'Pagination', additionalProperties: false }
)

/** One page of a keyset-paginated list; named `<Item>Page` in the OpenAPI document. */
export const PageOf = <T extends TSchema>(item: T) =>
  Type.Object(
    { success: Type.Literal(true), data: Type.Array(item, { maxItems: PAGE_MAX }), pagination: PaginationSchema },
    { additionalProperties: false, title: `${(item as { title?: string }).title ?? 'Item'}Page` }
  )

export const PageQuery = {
  // Long enough for a cursor holding a 200-character name of 4-byte characters.
  cursor: Type.Optional(
    Type.String({ minLength: 1, maxLength: 2048, description: 'Opaque cursor from pagination.cursor' })
  ),
  limit: Int32({ minimum: 1, maximum: PAGE_MAX, default: 20, description: 'Items per page' })
}
