import { Type } from 'typebox'

/** The request headers of the catalog's reads and writes, as route schemas (headers part) use them. */

// Long enough for a list of a few dozen ETags; a longer one is refused rather than scanned.
const ETAG_LIST_MAX = 1024

export const IfNoneMatchHeader = Type.Optional(
  Type.String({
    maxLength: ETAG_LIST_MAX,
    description: 'ETags the client holds (or *): a current one answers 304 Not Modified without a body'
  })
)

export const IfMatchHeader = Type.Optional(
  Type.String({
    maxLength: ETAG_LIST_MAX,
    description: 'The ETag the change is based on (or *): a stale one answers 412 PRECONDITION_FAILED'
  })
)

/** The Idempotency-Key request header of POST and PATCH (draft-ietf-httpapi-idempotency-key-header). */
export const IdempotencyKeyHeader = Type.Optional(
  Type.String({
    minLength: 1,
    maxLength: 255,
    description:
      'Makes a retry safe: a repeat with the same key and body replays the first response (Idempotent-Replayed: true)'
  })
)

/** A cached read: If-None-Match. */
export const CacheHeaders = Type.Object({ 'if-none-match': IfNoneMatchHeader })
/** A delete: If-Match. */
export const ConditionalHeaders = Type.Object({ 'if-match': IfMatchHeader })
/** A create: Idempotency-Key. */
export const IdempotentHeaders = Type.Object({ 'idempotency-key': IdempotencyKeyHeader })
/** A change of an existing entity: If-Match and Idempotency-Key. */
export const IdempotentConditionalHeaders = Type.Object({
  'if-match': IfMatchHeader,
  'idempotency-key': IdempotencyKeyHeader
})
