import { ERRORS, type ErrorCode } from '../../errors.js'
import { problemOf } from '../schemas.js'
import { alwaysSent, cacheControlObject, headerObject } from './headers.js'

/**
 * The finishing pass over the document @fastify/swagger builds from the route schemas. Routes declare what
 * is theirs (operationId, domain error codes, the headers they set); this adds what every route of a kind
 * answers (see GENERIC_CODES), the headers every answer carries, and gives every titled schema a name in
 * components/schemas.
 */
type Json = Record<string, unknown>
interface Parameter extends Json {
  name: string
  in: string
  required?: boolean
  schema?: Json
}
interface Response extends Json {
  description: string
  headers?: Record<string, unknown>
  content?: Record<string, { schema?: Json }>
}
interface Operation extends Json {
  operationId?: string
  parameters?: Parameter[]
  requestBody?: Json
  security?: unknown[]
  responses: Record<string, Response>
}

const METHODS = ['get', 'put', 'post', 'patch', 'delete', 'head', 'options'] as const
const PROBLEM_TYPE = 'application/problem+json'

const STATUS_TEXT: Record<number, string> = {
  400: 'Malformed request or a field that fails validation (`errors` names each field)',
  401: 'Missing, unknown or revoked API key',
  403: 'The API key’s role may not do this',
  404: 'Not found',
  409: 'Conflict with the current state',
  412: 'If-Match does not name the current version',
  413: 'Body larger than BODY_LIMIT_BYTES',
  414: 'A path parameter is too long',
  415: 'Body is not application/json',
  422: 'A referenced resource does not exist, or the Idempotency-Key was used for another request',
  429: 'Rate limit quota used up; retry after Retry-After seconds',
  500: 'Unexpected error; it is logged with the request id',
  503: 'Overloaded, shutting down, or the database is unavailable; retry after Retry-After seconds',
  504: 'The database did not answer in time'
}

const SUCCESS_TEXT: Record<string, Record<number, string>> = {
  get: { 200: 'The requested resource' },
  post: { 201: 'Created; Location names the new resource' },
  patch: { 200: 'The resource as it is now' },
  delete: { 200: 'The resource as it is now', 204: 'Deleted' }
}

interface Facets {
  path: string
  method: string
  op: Operation
}

const has = (op: Operation, place: string, name?: string) =>
  (op.parameters ?? []).some((p) => p.in === place && (name === undefined || p.name === name))

/** Codes an operation can answer with by its kind alone, wherever they are raised (framework, plugins). */
const GENERIC_CODES: [(f: Facets) => boolean, ErrorCode[]][] = [
  [() => true, ['BAD_REQUEST', 'INTERNAL', 'SERVICE_UNAVAILABLE']],
  [({ path }) => path.startsWith('/api/'), ['QUOTA_EXCEEDED', 'DATABASE_UNAVAILABLE', 'DATABASE_TIMEOUT']],
  [({ op }) => has(op, 'path'), ['VALIDATION_FAILED', 'URI_TOO_LONG']],
  [({ op }) => has(op, 'query') || has(op, 'header'), ['VALIDATION_FAILED']],
  [({ op }) => has(op, 'query', 'cursor'), ['INVALID_CURSOR']],
  // A body is parsed on every method but GET and HEAD, also where none is expected.
  [
    ({ method }) => method !== 'get' && method !== 'head',
    ['VALIDATION_FAILED', 'MALFORMED_JSON', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE']
  ],
  // Operations that need a key; `[{}, …]` makes a key optional (a read that a key may widen).
  [
    ({ op }) => (op.security ?? []).length > 0 && !(op.security ?? []).some((s) => Object.keys(s as Json).length === 0),
    ['UNAUTHORIZED', 'FORBIDDEN']
  ],
  [({ op }) => has(op, 'header', 'idempotency-key'), ['IDEMPOTENCY_KEY_IN_USE', 'IDEMPOTENCY_KEY_REUSED']]
]

/** The codes a route declared with errorResponses (the enum of its problem schema per status). */
function declaredCodes(op: Operation): Set<string> {
  const codes = new Set<string>()
  for (const [status, response] of Object.entries(op.responses)) {
    if (Number(status) < 400) continue
    const schema = response.content?.[PROBLEM_TYPE]?.schema as { allOf?: Json[] } | undefined
    const code = (schema?.allOf?.[1]?.properties as { code?: { enum?: string[] } } | undefined)?.code
    for (const c of code?.enum ?? []) codes.add(c)
    delete op.responses[status]
  }
  return codes
}

function errorResponses(facets: Facets): Record<string, Response> {
  const codes = declaredCodes(facets.op)
  for (const [applies, list] of GENERIC_CODES) if (applies(facets)) for (const c of list) codes.add(c)
  const byStatus = new Map<number, string[]>()
  for (const code of Object.keys(ERRORS) as ErrorCode[]) {
    if (!codes.has(code)) continue
    const status = ERRORS[code].status
    byStatus.set(status, [...(byStatus.get(status) ?? []), code])
  }
  const responses: Record<string, Response> = {}
  for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    responses[status] = {
      description: STATUS_TEXT[status] ?? ERRORS[list[0] as ErrorCode].title,
      content: { [PROBLEM_TYPE]: { schema: problemOf(list, '#/components/schemas/Problem') } }
    }
  }
  return responses
}

/** Headers on every answer of the operation, by status. */
function addHeaders({ path, method, op }: Facets): void {
  const limited = path.startsWith('/api/')
  const writes = method === 'post' || method === 'patch' || method === 'delete'
  const idempotent = has(op, 'header', 'idempotency-key')
  // A catalog read anyone may make (no key, or an optional one): the routes with `publicRead` in their config.
  const publicRead =
    limited && method === 'get' && (!op.security?.length || op.security.some((s) => !Object.keys(s as Json).length))
  for (const [status, response] of Object.entries(op.responses)) {
    const code = Number(status)
    if (response.description === 'Default Response') response.description = SUCCESS_TEXT[method]?.[code] ?? 'Success'
    const headers: Record<string, unknown> = { ...response.headers }
    for (const [name, value] of Object.entries(headers))
      headers[name] = { required: alwaysSent(name), ...(value as Json) }
    headers['X-Request-Id'] = headerObject('X-Request-Id', true)
    headers['Cache-Control'] = cacheControlObject(publicRead && (code === 200 || code === 304))
    if (limited) {
      headers.RateLimit = headerObject('RateLimit')
      headers['RateLimit-Policy'] = headerObject('RateLimit-Policy')
    }
    headers['Access-Control-Allow-Origin'] = headerObject('Access-Control-Allow-Origin')
    if (code === 429) headers['Retry-After'] = headerObject('Retry-After', true)
    if (code === 503 || code === 504) headers['Retry-After'] = headerObject('Retry-After')
    if (writes && code < 300) headers['X-Consistency-Token'] = headerObject('X-Consistency-Token')
    if (idempotent) headers['Idempotent-Replayed'] = headerObject('Idempotent-Replayed')
    if (code === 401) {
      headers['WWW-Authenticate'] = {
        description: 'The Bearer challenge (RFC 6750), with error="invalid_token" for an unknown or revoked key',
        required: true,
        schema: { type: 'string', maxLength: 200, example: 'Bearer realm="catalog-api", error="invalid_token"' }
      }
    }
    response.headers = headers
  }
}

const consistencyToken: Parameter = {
  name: 'X-Consistency-Token',
  in: 'header',
  required: false,
  description: 'The X-Consistency-Token of your last write: reads then see that write (a malformed token is ignored)',
  schema: { type: 'string', maxLength: 17, pattern: '^[0-9A-F]{1,8}/[0-9A-F]{1,8}$', example: '0/3000148' }
}

function finishOperation(facets: Facets): void {
  const { path, op } = facets
  for (const parameter of op.parameters ?? []) {
    // A parameter with a default may be left out (Fastify's schema lists it as required to type it as present).
    if (parameter.schema && 'default' in parameter.schema) parameter.required = false
  }
  if (path.startsWith('/api/')) op.parameters = [...(op.parameters ?? []), { ...consistencyToken }]
  op.responses = { ...op.responses, ...errorResponses(facets) }
  addHeaders(facets)
}

/** Replaces every schema that has a `title` by a reference to components/schemas/<title>. */
function nameSchemas(doc: Json): void {
  const components = ((doc.components as Json).schemas ??= {}) as Record<string, Json>
  const seen = new Map<string, string>()
  const hoist = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(hoist)
    if (!node || typeof node !== 'object') return node
    const object = node as Json
    hoistChildren(object)
    const title = object.title
    if (typeof title !== 'string' || !('type' in object || 'allOf' in object)) return object
    const text = JSON.stringify(object)
    const before = seen.get(title)
    if (before !== undefined && before !== text) throw new Error(`two different schemas are titled ${title}`)
    seen.set(title, text)
    components[title] = object
    return { $ref: `#/components/schemas/${title}` }
  }
  const hoistChildren = (object: Json) => {
    for (const [key, value] of Object.entries(object)) if (key !== 'example') object[key] = hoist(value)
  }
  doc.paths = hoist(doc.paths)
  for (const schema of Object.values(components)) hoistChildren(schema)
}

export function finishDocument(built: unknown): Json {
  const doc = structuredClone(built) as Json
  const paths = doc.paths as Record<string, Record<string, Operation>>
  for (const [path, item] of Object.entries(paths)) {
    for (const method of METHODS) {
      const op = item[method]
      if (op) finishOperation({ path, method, op })
    }
  }
  // A public catalog API: its documentation and reads are meant for anyone.
  for (const server of (doc.servers ?? []) as Json[]) server['x-internal'] = false
  nameSchemas(doc)
  return doc
}
