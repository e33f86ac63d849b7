import { Type } from 'typebox'

/** The Idempotency-Key request header of POST and PATCH (draft-ietf-httpapi-idempotency-key-header). */
export const IdempotencyKeyHeader = Type.Optional(
  Type.String({
    minLength: 1,
    maxLength: 255,
    description:
      'Makes a retry safe: a repeat with the same key and body replays the first response (Idempotent-Replayed: true)'
  })
)
