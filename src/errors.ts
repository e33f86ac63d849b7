/** The catalog of coded errors. Codes are stable: clients may switch on them. */
export const ERRORS = {
  VALIDATION_FAILED: { status: 400, title: 'Request validation failed' },
  INVALID_CURSOR: { status: 400, title: 'Invalid pagination cursor' },
  MALFORMED_JSON: { status: 400, title: 'Malformed JSON body' },
  BAD_REQUEST: { status: 400, title: 'Bad request' },
  MISSING_COLUMN: { status: 400, title: 'A required CSV column is missing' },
  UNAUTHORIZED: { status: 401, title: 'Authentication required' },
  FORBIDDEN: { status: 403, title: 'Not allowed for this role' },
  NOT_FOUND: { status: 404, title: 'Resource not found' },
  ROUTE_NOT_FOUND: { status: 404, title: 'Route not found' },
  PRODUCT_NOT_FOUND: { status: 404, title: 'Product not found' },
  CATEGORY_NOT_FOUND: { status: 404, title: 'Category not found' },
  VARIANT_NOT_FOUND: { status: 404, title: 'Variant not found' },
  API_KEY_NOT_FOUND: { status: 404, title: 'API key not found' },
  WEBHOOK_NOT_FOUND: { status: 404, title: 'Webhook not found' },
  DELIVERY_NOT_FOUND: { status: 404, title: 'Webhook delivery not found' },
  IMPORT_NOT_FOUND: { status: 404, title: 'Import not found' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  REQUEST_TIMEOUT: { status: 408, title: 'The request did not arrive in time' },
  SKU_TAKEN: { status: 409, title: 'SKU already in use' },
  INSUFFICIENT_STOCK: { status: 409, title: 'Not enough stock for this adjustment' },
  LAST_VARIANT: { status: 409, title: 'A product keeps at least one variant' },
  SLUG_TAKEN: { status: 409, title: 'Slug already in use' },
  CATEGORY_NOT_EMPTY: { status: 409, title: 'Category still has products or subcategories' },
  CATEGORY_CYCLE: { status: 409, title: 'Move would make the category tree cyclic' },
  CURSOR_EXPIRED: { status: 410, title: 'The events after this cursor are no longer kept' },
  PRECONDITION_FAILED: { status: 412, title: 'Resource was modified (If-Match does not match)' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Request body too large' },
  URI_TOO_LONG: { status: 414, title: 'URI or path parameter too long' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  HEADERS_TOO_LARGE: { status: 431, title: 'Request header fields too large' },
  UNKNOWN_CATEGORY: { status: 422, title: 'Referenced category does not exist' },
  INVALID_OPTION_VALUES: { status: 422, title: 'Variant option values do not fit the product’s options' },
  WEBHOOK_URL_REFUSED: { status: 422, title: 'Webhook URL refused' },
  IDEMPOTENCY_KEY_IN_USE: { status: 409, title: 'A request with this Idempotency-Key is still in progress' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, title: 'Idempotency-Key was already used for a different request' },
  QUOTA_EXCEEDED: { status: 429, title: 'Rate limit quota exceeded' },
  NOT_READY: { status: 503, title: 'Not ready to serve' },
  INTERNAL: { status: 500, title: 'Internal server error' },
  SERVICE_UNAVAILABLE: { status: 503, title: 'Service temporarily unavailable' },
  DATABASE_UNAVAILABLE: { status: 503, title: 'Database temporarily unavailable' },
  DATABASE_TIMEOUT: { status: 504, title: 'Database query timed out' }
} as const satisfies Record<string, { status: number; title: string }>

export type ErrorCode = keyof typeof ERRORS

export interface FieldError {
  field: string
  message: string
}

export class AppError extends Error {
  readonly status: number
  readonly title: string

  constructor(
    readonly code: ErrorCode,
    detail?: string,
    readonly errors?: FieldError[],
    readonly headers?: Record<string, string>,
    /** Extension members of the problem document (RFC 9457 §3.2). */
    readonly extensions?: Record<string, unknown>
  ) {
    super(detail ?? ERRORS[code].title)
    this.name = 'AppError'
    this.status = ERRORS[code].status
    this.title = ERRORS[code].title
  }
}

export const problemType = (code: string) => `/problems#${code.toLowerCase().replaceAll('_', '-')}`

/** A 400 for one field, for checks the JSON schema cannot express. */
export const invalidField = (field: string, message: string) =>
  new AppError('VALIDATION_FAILED', `${field}: ${message}`, [{ field, message }])

/** 401 with the Bearer challenge RFC 6750 asks for; `error` says why a given token was refused. */
export function unauthorized(detail: string, error?: string): AppError {
  const challenge = error ? `Bearer realm="catalog-api", error="${error}"` : 'Bearer realm="catalog-api"'
  return new AppError('UNAUTHORIZED', detail, undefined, { 'www-authenticate': challenge })
}

/** The refusal of a key that is not (or no longer) active. */
export const unknownKey = () => unauthorized('Unknown or revoked API key', 'invalid_token')
