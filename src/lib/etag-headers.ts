import { Type } from 'typebox'

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
