/**
 * The HTTP headers of the API as the OpenAPI document describes them: one entry per header, used by the
 * routes (`withHeaders`) and by the document's finishing pass (headers every answer carries).
 */
interface HeaderSpec {
  description: string
  /** Sent only sometimes where it is documented (Link: not on the last page). */
  optional?: boolean
  schema: Record<string, unknown>
  example?: string
}

const text = (maxLength: number, pattern?: string) => ({ type: 'string', maxLength, ...(pattern ? { pattern } : {}) })

export const RESPONSE_HEADERS = {
  ETag: {
    description: 'Strong validator of this version of the resource; send it as If-None-Match or If-Match',
    schema: text(24, '^"[0-9]+\\.[0-9]+"$'),
    example: '"42.3"'
  },
  Location: {
    description: 'URL of the created resource',
    schema: text(96, '^/api/v1/[a-z-]+/[0-9]+(/[a-z-]+/[0-9]+)?$'),
    example: '/api/v1/products/42'
  },
  Link: {
    description: 'RFC 8288 link to the next page (rel="next"); absent on the last page',
    optional: true,
    schema: text(8192, '^<[^>]+>; rel="next"$'),
    example: '</api/v1/products?limit=20&cursor=eyJzIjoibmV3ZXN0Iiwi...>; rel="next"'
  },
  'X-Consistency-Token': {
    description:
      'Database position of this write; send it back on reads as X-Consistency-Token to read your own writes',
    schema: text(17, '^[0-9A-F]{1,8}/[0-9A-F]{1,8}$'),
    example: '0/3000148'
  },
  RateLimit: {
    description: 'Quota left in the current window (draft-ietf-httpapi-ratelimit-headers): r = requests, t = seconds',
    schema: text(128, '^"[^"]{1,64}";r=[0-9]+;t=[0-9]+$'),
    example: '"default";r=99;t=900'
  },
  'RateLimit-Policy': {
    description: 'The quota this client is under: q = requests per w seconds',
    schema: text(128, '^"[^"]{1,64}";q=[0-9]+;w=[0-9]+$'),
    example: '"default";q=100;w=900'
  },
  'Retry-After': {
    description: 'Seconds to wait before retrying',
    schema: text(10, '^[0-9]+$'),
    example: '5'
  },
  'X-Request-Id': {
    description: 'Id of this request in the logs (the client’s own X-Request-Id when it sent a well-formed one)',
    schema: text(128, '^[A-Za-z0-9._:-]{1,128}$'),
    example: '4f1c2a9e-7b7d-4c55-9a53-0c0f1e1d2b3a'
  },
  'Idempotent-Replayed': {
    description: 'Present when this is the stored answer to an earlier request with the same Idempotency-Key',
    schema: { type: 'string', enum: ['true'] },
    example: 'true'
  },
  'Access-Control-Allow-Origin': {
    description: 'The calling origin, only when it is one of CORS_ORIGIN (no other origin gets CORS headers)',
    schema: text(2048),
    example: 'https://shop.example.com'
  },
  'Cache-Control': {
    description:
      'Anonymous catalog reads: public, max-age=0, s-maxage and stale-while-revalidate of CDN_MAX_AGE_SECONDS; everything else: private, no-store',
    schema: text(128, '^(public, max-age=0, s-maxage=[0-9]+, stale-while-revalidate=[0-9]+|private, no-store)$'),
    example: 'public, max-age=0, s-maxage=5, stale-while-revalidate=5'
  }
} satisfies Record<string, HeaderSpec>

/** Cache-Control of every answer a shared cache may not keep: errors, writes, keyed and admin operations. */
const PRIVATE_CACHE_CONTROL: HeaderSpec = {
  description: 'Not to be stored by any cache',
  schema: { type: 'string', enum: ['private, no-store'] },
  example: 'private, no-store'
}

export type ResponseHeader = keyof typeof RESPONSE_HEADERS

/** A response schema that also documents the headers a route itself sets (OpenAPI only; Fastify ignores it). */
export function withHeaders<T extends object>(schema: T, ...names: ResponseHeader[]): T {
  return { ...schema, headers: Object.fromEntries(names.map((n) => [n, headerSchema(n)])) }
}

/** The JSON Schema form @fastify/swagger turns into a response header object. */
function headerSchema(name: ResponseHeader) {
  const { description, schema, example } = RESPONSE_HEADERS[name]
  return { ...schema, description, example }
}

/** Whether a header a route declared is on every answer of that status. */
export const alwaysSent = (name: string) => !(RESPONSE_HEADERS as Record<string, HeaderSpec>)[name]?.optional

/** OpenAPI header objects (`components/headers` style) for the document's finishing pass. */
export function headerObject(name: ResponseHeader, required = false) {
  const { description, schema, example } = RESPONSE_HEADERS[name]
  return { description, required, schema: { ...schema, example } }
}

/** Cache-Control as an answer carries it: only a public read's 200 and 304 may be `public` (when anonymous). */
export function cacheControlObject(shareable: boolean) {
  if (shareable) return headerObject('Cache-Control', true)
  const { description, schema, example } = PRIVATE_CACHE_CONTROL
  return { description, required: true, schema: { ...schema, example } }
}
