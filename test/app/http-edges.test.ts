import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import { test } from 'node:test'
import { API_CSP } from '../../src/plugins/external/helmet.js'
import { apiKey, assertProblem, build, count, seed, type TestApp } from '../helper.js'
import { withTestRoutes } from '../test-routes.js'

async function listening(app: TestApp): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return (app.server.address() as net.AddressInfo).port
}

/** Raw bytes to the server, its whole answer back (it closes the connection after a parser error). */
function raw(port: number, request: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let answer = ''
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')))
    socket.on('error', (err) => (answer ? resolve(answer) : reject(err)))
    socket.on('close', () => resolve(answer))
    socket.write(request)
  })
}

function parse(answer: string) {
  const [head = '', body = ''] = answer.split('\r\n\r\n')
  const [status = '', ...lines] = head.split('\r\n')
  const headers = Object.fromEntries(
    lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()])
  )
  return { status: Number(status.split(' ')[1]), headers, body }
}

function get(port: number, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers }, (res) => {
        let body = ''
        res.on('data', (d) => (body += d))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      })
      .on('error', reject)
  })
}

for (const cache of ['true', 'false']) {
  test(`when If-None-Match matches (cache ${cache === 'true' ? 'on' : 'off'}), then 304 carries no Content-Type or Content-Length`, async (t) => {
    const app = await build(t, { CACHE_ENABLED: cache })
    await seed(app, 3)
    const port = await listening(app)
    for (const path of ['/api/v1/products/1', '/api/v1/categories/1']) {
      const first = await get(port, path)
      assert.equal(first.status, 200, path)
      const etag = String(first.headers.etag)
      const again = await get(port, path, { 'if-none-match': etag })
      assert.equal(again.status, 304, path)
      assert.equal(again.headers['content-type'], undefined, path)
      assert.equal(again.headers['content-length'], undefined, path)
      assert.equal(again.body, '')
      assert.equal(again.headers.etag, etag, 'a 304 still names the ETag')
    }
  })
}

test('when the Authorization scheme is spelt bearer or BEARER, then the key is accepted', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'admin')
  for (const scheme of ['bearer', 'BEARER', 'Bearer', 'bEaReR']) {
    const res = await app.inject({
      method: 'GET',
      url: '/api/v1/api-keys',
      headers: { authorization: `${scheme} ${key}` }
    })
    assert.equal(res.statusCode, 200, `${scheme}: ${res.body}`)
  }
  const wrong = await app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: { authorization: `Basic ${key}` } })
  assertProblem(wrong, 401, 'UNAUTHORIZED')
})

test('when a JSON body has a __proto__ or constructor.prototype key, then 400 says that key is refused', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'admin')
  const send = (payload: string) =>
    app.inject({
      method: 'POST',
      url: '/api/v1/categories',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      payload
    })
  const proto = assertProblem(await send('{"name":"Toys","__proto__":{"admin":true}}'), 400, 'BAD_REQUEST')
  assert.match(proto.detail, /"__proto__" key, which is refused/)
  assert.doesNotMatch(proto.detail, /not valid JSON/)
  const ctor = assertProblem(
    await send('{"name":"Toys","constructor":{"prototype":{"admin":true}}}'),
    400,
    'BAD_REQUEST'
  )
  assert.match(ctor.detail, /"constructor\.prototype" key, which is refused/)
  assertProblem(await send('{"name":'), 400, 'MALFORMED_JSON')
})

const securityHeaders = (headers: Record<string, unknown>) => {
  assert.equal(headers['content-security-policy'], API_CSP)
  assert.equal(headers['strict-transport-security'], 'max-age=31536000; includeSubDomains; preload')
  assert.equal(headers['x-content-type-options'], 'nosniff')
}

test("when Node's HTTP parser rejects a request, then the answer is problem+json with the security headers and a request id", async (t) => {
  const app = await build(t)
  const port = await listening(app)
  const cases: [string, string | Buffer, number, string][] = [
    ['bare CR in a header', 'GET /health/live HTTP/1.1\r\nHost: x\r\nX-Bad: a\rb\r\n\r\n', 400, 'BAD_REQUEST'],
    ['bare LF in a header value', 'GET /health/live HTTP/1.1\r\nHost: x\r\nX-Bad: a\nb: c\r\n\r\n', 400, 'BAD_REQUEST'],
    ['a space in the header name', 'GET /health/live HTTP/1.1\r\nHost: x\r\nX Bad: a\r\n\r\n', 400, 'BAD_REQUEST'],
    [
      'a 100 KB header',
      `GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100 * 1024)}\r\n\r\n`,
      431,
      'HEADERS_TOO_LARGE'
    ]
  ]
  for (const [name, request, status, code] of cases) {
    const res = parse(await raw(port, request))
    assert.equal(res.status, status, name)
    assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/, name)
    assert.equal(res.headers.connection, 'close', name)
    assert.equal(res.headers['cache-control'], 'private, no-store', name)
    assert.ok(!Number.isNaN(Date.parse(res.headers.date ?? '')), `${name}: Date`)
    securityHeaders(res.headers)
    const body = JSON.parse(res.body)
    assert.equal(body.code, code, name)
    assert.equal(body.status, status, name)
    assert.equal(body.requestId, res.headers['x-request-id'], name)
    assert.match(body.requestId, /^[0-9a-f-]{36}$/, name)
    assert.equal(Number(res.headers['content-length']), Buffer.byteLength(res.body), name)
  }
  const metrics = await app.inject({ method: 'GET', url: '/metrics' })
  assert.match(metrics.body, /http_requests_total\{method="unknown",route="unmatched",status_code="400"[^}]*\} 3/)
  assert.match(metrics.body, /http_requests_total\{method="unknown",route="unmatched",status_code="431"[^}]*\} 1/)
})

test('when a path parameter is over-long, then the 414 has the security headers and is counted in http_requests_total', async (t) => {
  const app = await build(t)
  for (let i = 0; i < 2; i++) {
    const res = await app.inject({ method: 'GET', url: `/api/v1/products/${'9'.repeat(500)}` })
    assertProblem(res, 414, 'URI_TOO_LONG')
    securityHeaders(res.headers)
  }
  const metrics = await app.inject({ method: 'GET', url: '/metrics' })
  assert.match(metrics.body, /http_requests_total\{method="GET",route="unmatched",status_code="414"[^}]*\} 2/)
  assert.match(metrics.body, /http_errors_total\{code="URI_TOO_LONG"\} 2/)
})

test('when a request body does not arrive within REQUEST_TIMEOUT_MS, then 408 problem+json and the connection is closed; an answer that takes longer is not cut', async (t) => {
  const app = await build(t, { REQUEST_TIMEOUT_MS: '300' }, undefined, withTestRoutes)
  const key = await apiKey(app, 'editor')
  const port = await listening(app)
  const started = Date.now()
  // 20 of the 200 bytes announced, then nothing.
  const answer = parse(
    await raw(
      port,
      `POST /api/v1/products HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\n` +
        `Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{"name": "Slow tee",`
    )
  )
  const waited = Date.now() - started
  assert.equal(answer.status, 408)
  assert.match(answer.headers['content-type'] ?? '', /^application\/problem\+json/)
  assert.equal(answer.headers.connection, 'close')
  securityHeaders(answer.headers)
  assert.equal(JSON.parse(answer.body).code, 'REQUEST_TIMEOUT')
  assert.ok(waited >= 290 && waited < 3000, `answered after ${waited} ms`)
  assert.equal(await count(app, 'products'), 0)
  // The deadline covers the request's arrival only, as Node's requestTimeout does.
  const slow = await get(port, '/test/sleep?ms=600')
  assert.equal(slow.status, 200)
})
