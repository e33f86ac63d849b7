import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { LightMyRequestResponse } from 'fastify'
import { freePort } from '../../src/lib/free-port.js'
import { build, serverTarget } from '../helper.js'

/** A request id the API made: a UUID version 7 (time-ordered, src/lib/request-id.ts). */
const GENERATED_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

const isProblem = (res: LightMyRequestResponse) => {
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/)
  const body = res.json()
  assert.equal(body.success, false)
  assert.equal(body.status, res.statusCode)
  assert.equal(typeof body.code, 'string')
  assert.equal(body.requestId, res.headers['x-request-id'])
  assert.equal(body.stack, undefined)
  return body
}

test('when an unknown route is requested, then 404 problem+json ROUTE_NOT_FOUND', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/api/v1/nope' })
  assert.equal(res.statusCode, 404)
  assert.equal(isProblem(res).code, 'ROUTE_NOT_FOUND')
})

test('when a path parameter is over-long, then 414 problem+json, not plain JSON', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: `/api/v1/products/${'9'.repeat(500)}` })
  assert.equal(res.statusCode, 414)
  assert.equal(isProblem(res).code, 'URI_TOO_LONG')
})

test('when the client sends a well-formed X-Request-Id, then it is echoed; a malformed one is replaced', async (t) => {
  const app = await build(t)
  const kept = await app.inject({ method: 'GET', url: '/api/v1/nope', headers: { 'x-request-id': 'abc-123.DEF:9' } })
  assert.equal(kept.headers['x-request-id'], 'abc-123.DEF:9')
  assert.equal(kept.json().requestId, 'abc-123.DEF:9')
  const replaced = await app.inject({
    method: 'GET',
    url: '/health/live',
    headers: { 'x-request-id': 'bad id <script>' }
  })
  assert.match(String(replaced.headers['x-request-id']), GENERATED_ID)
  const longest = 'a'.repeat(128)
  assert.equal(
    (await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': longest } })).headers[
      'x-request-id'
    ],
    longest
  )
  const tooLong = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': `${longest}a` } })
  assert.match(String(tooLong.headers['x-request-id']), GENERATED_ID)
})

test('when an id is not an integer, then 400 naming the id parameter', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/api/v1/products/abc' })
  assert.equal(res.statusCode, 400)
  const body = isProblem(res)
  assert.equal(body.code, 'VALIDATION_FAILED')
  assert.deepEqual(
    body.errors.map((e: { field: string }) => e.field),
    ['id']
  )
})

test('when the OpenAPI document is fetched, then every API route is documented with its error responses', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/openapi.json' })
  assert.equal(res.statusCode, 200)
  const doc = res.json()
  assert.match(doc.openapi, /^3\./)
  const expected: [string, string, string[]][] = [
    ['/api/v1/products', 'get', ['200', '400']],
    ['/api/v1/products', 'post', ['201', '400', '401', '403', '409', '422']],
    ['/api/v1/products/{id}', 'get', ['200', '404']],
    ['/api/v1/products/{id}', 'patch', ['200', '400', '401', '403', '404', '409', '412', '422']],
    ['/api/v1/products/{id}', 'delete', ['204', '401', '403', '404', '412']],
    ['/api/v1/categories', 'get', ['200', '400']],
    ['/api/v1/categories', 'post', ['201', '400', '401', '403', '409', '422']],
    ['/api/v1/categories/{id}', 'patch', ['200', '409', '412', '422']],
    ['/api/v1/categories/{id}', 'delete', ['204', '409', '412']],
    ['/api/v1/categories/{id}/tree', 'get', ['200', '404']],
    ['/api/v1/api-keys', 'post', ['201', '401', '403']]
  ]
  for (const [path, method, statuses] of expected) {
    const op = doc.paths[path]?.[method]
    assert.ok(op, `${method.toUpperCase()} ${path} is documented`)
    for (const s of statuses) assert.ok(op.responses[s], `${method.toUpperCase()} ${path} documents ${s}`)
    if (method !== 'get') assert.ok(op.responses['400'] || op.responses['401'], 'write errors documented')
  }
  assert.ok(doc.components.schemas.Problem ?? doc.components.schemas['def-0'], 'the problem schema is a component')
  assert.deepEqual(doc.components.securitySchemes.bearerAuth, {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key (npm run apikey -- create)'
  })
})

test('when SWAGGER_HOST is set, then it is the OpenAPI server URL', async (t) => {
  const app = await build(t, { SWAGGER_HOST: 'api.example.com' })
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json()
  assert.deepEqual(
    doc.servers.map((s: { url: string }) => s.url),
    ['https://api.example.com']
  )
})

test('when /docs is requested, then Swagger UI HTML is served', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/docs/' })
  assert.equal(res.statusCode, 200)
  assert.match(String(res.headers['content-type']), /text\/html/)
  assert.match(res.body, /swagger-ui/i)
})

test('when the primary database answers, then /health is 200', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/health' })
  assert.equal(res.statusCode, 200)
  assert.deepEqual(res.json(), { status: 'ok' })
})

test('when the primary database is unreachable, then /health and reads answer 503 problem+json with Retry-After', async (t) => {
  const closed = { ...serverTarget('nowhere'), port: await freePort() }
  const app = await build(t, { DB_CONNECTION_TIMEOUT: '500' }, closed)
  const health = await app.inject({ method: 'GET', url: '/health' })
  assert.equal(health.statusCode, 503)
  assert.equal(isProblem(health).code, 'DATABASE_UNAVAILABLE')
  assert.ok(health.headers['retry-after'])
  const read = await app.inject({ method: 'GET', url: '/api/v1/products' })
  assert.equal(read.statusCode, 503)
  assert.equal(isProblem(read).code, 'DATABASE_UNAVAILABLE')
  assert.equal(read.headers['retry-after'], '1')
})
