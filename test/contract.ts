import assert from 'node:assert/strict'
import { Ajv, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { OpenAPIBackend } from 'openapi-backend'

/**
 * The contract check: every response a test receives from an app of `build` (through `inject`, or over a socket
 * when the app listens) is checked against the OpenAPI document the app serves: the status is documented for the
 * operation, the content type is a documented one, the body matches its schema (openapi-backend's response
 * validator) and every documented header is valid and, when required, present. Requests outside the document
 * (/metrics, /docs, unknown routes, 405) are not checked, nor servers started as processes (test/server-process.ts).
 *
 * Responses are recorded as they arrive and checked when the test ends (before the app closes), so schema
 * compilation never sits between the requests of a timing-sensitive test. One validator per test process; its
 * schemas compile on first use of an operation.
 */
interface HeaderObject {
  required?: boolean
  schema?: object
}
interface DocumentedResponse {
  content?: Record<string, unknown>
  headers?: Record<string, HeaderObject>
}
interface Seen {
  method: string
  url: string
  status: number
  headers: Record<string, HeaderValue>
  body: string
  /** Sent as a stream (a compressed answer seen before compression finished): its body is not checked. */
  streamed?: boolean
}

interface Validators {
  api: OpenAPIBackend
  header: (schema: object) => ValidateFunction
}

let shared: Promise<Validators> | undefined

function contractOf(app: FastifyInstance): Promise<Validators> {
  shared ??= (async () => {
    const definition = structuredClone(app.swagger()) as Record<string, unknown>
    delete definition.servers
    const api = new OpenAPIBackend({
      definition: definition as never,
      quick: true,
      ajvOpts: { strict: false },
      customizeAjv: (ajv) => {
        addFormats.default(ajv)
        return ajv
      }
    })
    await api.init()
    // Header values are strings: a few distinct schemas, each compiled once.
    const ajv = new Ajv({ strict: false })
    addFormats.default(ajv)
    const compiled = new Map<string, ValidateFunction>()
    const header = (schema: object) => {
      const key = JSON.stringify(schema)
      let validate = compiled.get(key)
      if (!validate) compiled.set(key, (validate = ajv.compile(schema)))
      return validate
    }
    return { api, header }
  })()
  return shared
}

type HeaderValue = string | string[] | number | undefined

const text = (value: HeaderValue) => (Array.isArray(value) ? value.join(', ') : String(value))
const mediaType = (value: HeaderValue) => (value === undefined ? '' : text(value).split(';')[0]?.trim().toLowerCase())

/** What is wrong with one response, or nothing. */
function mismatches({ api, header }: Validators, seen: Seen): string[] {
  const url = new URL(seen.url, 'http://localhost')
  const method = seen.method.toLowerCase()
  const operation = api.router.matchOperation({
    method: method === 'head' ? 'get' : method,
    path: url.pathname,
    headers: {}
  })
  if (!operation) return []
  const where = `${seen.method} ${url.pathname} → ${seen.status} (${operation.operationId})`
  const documented = operation.responses?.[String(seen.status)] as DocumentedResponse | undefined
  if (!documented) return [`${where}: status not documented; body ${seen.body.slice(0, 300)}`]
  const problems: string[] = []
  for (const [name, spec] of Object.entries(documented.headers ?? {})) {
    const value = seen.headers[name.toLowerCase()]
    if (value === undefined) {
      if (spec.required) problems.push(`${where}: no ${name} header`)
    } else if (spec.schema && !header(spec.schema)(text(value))) {
      problems.push(`${where}: ${name}: ${text(value)} does not match ${JSON.stringify(spec.schema)}`)
    }
  }
  if (method === 'head' || seen.status === 204 || seen.status === 304) return problems
  const type = mediaType(seen.headers['content-type'])
  const types = Object.keys(documented.content ?? {})
  if (!types.includes(type ?? '')) problems.push(`${where}: content type ${type} is not one of ${types.join(', ')}`)
  // Streamed text (NDJSON, CSV) is documented by its content type; bodies are checked when they are JSON.
  else if (
    seen.headers['content-encoding'] === undefined &&
    !seen.streamed &&
    /json$/.test(type ?? '') &&
    type !== 'application/x-ndjson'
  ) {
    const body = api.validateResponse(JSON.parse(seen.body), operation, seen.status)
    if (!body.valid) problems.push(`${where}: body ${JSON.stringify(body.errors)}; ${seen.body.slice(0, 500)}`)
  }
  return problems
}

/**
 * Records every response the app sends: `inject` answers through a wrapper, answers over a real socket (a test
 * that listens) through an onSend hook. `verify` checks them all against the document and throws on the first
 * test that received one the document does not describe.
 */
export interface Contract {
  verify(): Promise<void>
}

type Payload = string | Buffer | NodeJS.ReadableStream | null | undefined

/** The last onSend hook: what a real client receives, unless compressed (then its body is not checked). */
function observeServed(app: FastifyInstance, responses: Seen[]): void {
  app.addHook('onSend', (request, reply, payload: Payload, done) => {
    // light-my-request marks its requests; those are recorded by the inject wrapper with their final headers.
    if (!('_lightMyRequest' in request.raw)) {
      responses.push({
        method: request.method,
        url: request.url,
        status: reply.statusCode,
        headers: reply.getHeaders(),
        body: typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString() : '',
        streamed: typeof payload !== 'string' && !Buffer.isBuffer(payload) && payload != null
      })
    }
    done(null, payload)
  })
}

/** Call before `app.ready()` (it adds a hook); `wrapInject` once the app is ready. */
export function enforceContract(app: FastifyInstance): Contract & { wrapInject(): void } {
  const responses: Seen[] = []
  observeServed(app, responses)
  const record = (res: LightMyRequestResponse) => {
    const req = res.raw.req as { method?: string; url?: string }
    responses.push({
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      status: res.statusCode,
      headers: res.headers,
      body: res.body
    })
    return res
  }
  return {
    wrapInject() {
      const original = app.inject.bind(app) as unknown as (...args: unknown[]) => unknown
      Object.assign(app, {
        inject: (opts?: InjectOptions | string, callback?: unknown) =>
          opts === undefined || callback !== undefined
            ? original(opts, callback)
            : (original(opts) as Promise<LightMyRequestResponse>).then(record)
      })
    },
    async verify() {
      if (!responses.length) return
      const contract = await contractOf(app)
      const problems = responses.flatMap((seen) => mismatches(contract, seen))
      responses.length = 0
      assert.deepEqual(problems, [], 'responses that differ from the OpenAPI document')
    }
  }
}
