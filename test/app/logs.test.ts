import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createTestDatabase } from '../helper.js'
import { logLines, startServer } from '../server-process.js'

test('when requests are served, then each gets one JSON line with method, route, status, duration and request id, at the level its status calls for', async (t) => {
  const target = await createTestDatabase(t)
  const server = await startServer(t, target, { LOG_LEVEL: 'info' }, { testRoutes: true })
  const secret = 'ck_this-key-must-never-be-logged'
  const send = (path: string, id: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, { headers: { 'x-request-id': id, ...headers } })

  assert.equal((await send('/api/v1/products?limit=1', 'req-ok')).status, 200)
  assert.equal((await send('/api/v1/products/999999', 'req-404')).status, 404)
  const unauthorized = await fetch(`${server.url}/api/v1/products`, {
    method: 'POST',
    headers: {
      'x-request-id': 'req-401',
      authorization: `Bearer ${secret}`,
      cookie: `session=${secret}`,
      'content-type': 'application/json'
    },
    body: JSON.stringify({ sku: 'X', name: 'x', priceCents: 1, currency: 'USD' })
  })
  assert.equal(unauthorized.status, 401)
  assert.equal((await send('/test/boom', 'req-500', { authorization: `Bearer ${secret}` })).status, 500)
  assert.equal((await send('/health', 'req-health')).status, 200)
  assert.equal((await send('/health/ready', 'req-ready')).status, 200)
  assert.equal((await send('/metrics', 'req-metrics')).status, 200)
  await new Promise((resolve) => setTimeout(resolve, 300))

  const lines = logLines(server)
  const byRequest = (id: string) => lines.filter((l) => l.reqId === id)
  const completed = (id: string) => byRequest(id).filter((l) => l.msg === 'request completed')

  const [ok] = completed('req-ok')
  assert.ok(ok, 'one line for the successful request')
  assert.equal(completed('req-ok').length, 1)
  assert.deepEqual([ok.level, ok.method, ok.route, ok.status], [30, 'GET', '/api/v1/products', 200])
  assert.equal(typeof ok.ms, 'number')
  assert.equal(ok.ip, '127.0.0.1')

  assert.equal(completed('req-404')[0]?.level, 30, '4xx at info')
  assert.equal(completed('req-401')[0]?.level, 30, '4xx at info')
  assert.equal(completed('req-500')[0]?.level, 50, '5xx at error')
  assert.equal(completed('req-500')[0]?.code, 'INTERNAL', 'a 5xx line carries its error code')
  // Every line written while handling the failed request carries its id, including the error itself.
  const failure = byRequest('req-500').find((l) => l.msg === 'request failed')
  assert.ok(failure, 'the error is logged with the request id')
  assert.match(JSON.stringify(failure.err), /forced 500/)

  for (const quiet of ['req-health', 'req-ready', 'req-metrics'])
    assert.deepEqual(byRequest(quiet), [], `${quiet} is not logged at info`)
  assert.doesNotMatch(server.output(), new RegExp(secret), 'keys and cookies never reach the log')
  for (const line of lines) assert.ok(line.level !== undefined && line.time !== undefined, 'every line is pino JSON')
})

test('when LOG_LEVEL=warn, then successful requests write nothing and a failing one still logs with its request id', async (t) => {
  // Request loggers become pino children only when they write: the id must still be on every line written.
  const target = await createTestDatabase(t)
  const server = await startServer(t, target, { LOG_LEVEL: 'warn' }, { testRoutes: true })
  const send = (path: string, id: string) => fetch(`${server.url}${path}`, { headers: { 'x-request-id': id } })
  assert.equal((await send('/api/v1/products?limit=1', 'warn-ok')).status, 200)
  assert.equal((await send('/api/v1/products/999999', 'warn-404')).status, 404)
  assert.equal((await send('/test/boom', 'warn-500')).status, 500)
  await new Promise((resolve) => setTimeout(resolve, 300))
  const lines = logLines(server)
  assert.deepEqual(
    lines.filter((l) => l.reqId === 'warn-ok' || l.reqId === 'warn-404'),
    []
  )
  const failed = lines.filter((l) => l.reqId === 'warn-500')
  assert.deepEqual(
    failed.map((l) => [l.level, l.msg]),
    [
      [50, 'request failed'],
      [50, 'request completed']
    ]
  )
})

test('when requests are served, then each line also has the raw path and query (capped), the API key id, the response size, the cache result and the error code of a 4xx/5xx', async (t) => {
  const target = await createTestDatabase(t)
  const key = 'ck_request-log-admin-key-0123456789'
  const server = await startServer(t, target, { LOG_LEVEL: 'info', BOOTSTRAP_ADMIN_API_KEY: key })
  const admin = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }
  const send = (path: string, id: string, init: RequestInit = {}) =>
    fetch(`${server.url}${path}`, {
      ...init,
      headers: { 'x-request-id': id, 'accept-encoding': 'identity', ...(init.headers as Record<string, string>) }
    })

  const created = await send('/api/v1/products', 'log-create', {
    method: 'POST',
    headers: admin,
    body: JSON.stringify({ sku: 'LOG-1', name: 'Logged lamp', priceCents: 100, currency: 'USD' })
  })
  assert.equal(created.status, 201)
  const createdBytes = Buffer.byteLength(await created.text())
  const keys = await send('/api/v1/api-keys', 'log-keys', { headers: admin })
  const keyId = ((await keys.json()) as { data: { id: number; name: string }[] }).data.find(
    (k) => k.name === 'bootstrap-admin'
  )?.id
  assert.equal(typeof keyId, 'number')
  const miss = await send('/api/v1/products?limit=2&sort=-price', 'log-miss')
  const missBytes = Buffer.byteLength(await miss.text())
  assert.equal((await send('/api/v1/products?limit=2&sort=-price', 'log-hit')).status, 200)
  assert.equal((await send('/api/v1/products/999999', 'log-404')).status, 404)
  const long = `/api/v1/products?q=${'x'.repeat(600)}`
  assert.equal((await send(long, 'log-long')).status, 400)
  assert.equal((await send('/api/v1/products', 'log-401', { method: 'POST', body: '{}' })).status, 401)
  await new Promise((resolve) => setTimeout(resolve, 300))

  const lines = logLines(server).filter((l) => l.msg === 'request completed')
  const line = (id: string) => {
    const found = lines.filter((l) => l.reqId === id)
    assert.equal(found.length, 1, `one line for ${id}`)
    return found[0] as Record<string, unknown>
  }
  const pick = (l: Record<string, unknown>, ...fields: string[]) => Object.fromEntries(fields.map((f) => [f, l[f]]))
  const fields = ['url', 'status', 'apiKeyId', 'bytes', 'cache', 'code']
  assert.deepEqual(pick(line('log-create'), ...fields), {
    url: '/api/v1/products',
    status: 201,
    apiKeyId: keyId,
    bytes: createdBytes,
    cache: undefined,
    code: undefined
  })
  assert.deepEqual(pick(line('log-miss'), ...fields), {
    url: '/api/v1/products?limit=2&sort=-price',
    status: 200,
    apiKeyId: undefined,
    bytes: missBytes,
    cache: 'miss',
    code: undefined
  })
  assert.deepEqual(pick(line('log-hit'), 'url', 'cache', 'bytes'), {
    url: '/api/v1/products?limit=2&sort=-price',
    cache: 'hit',
    bytes: missBytes
  })
  assert.deepEqual(pick(line('log-404'), 'status', 'cache', 'code'), {
    status: 404,
    cache: 'miss',
    code: 'PRODUCT_NOT_FOUND'
  })
  const capped = line('log-long')
  assert.equal(capped.url, `${long.slice(0, 512)}…`)
  assert.equal(capped.code, 'VALIDATION_FAILED')
  assert.deepEqual(pick(line('log-401'), 'status', 'apiKeyId', 'code'), {
    status: 401,
    apiKeyId: undefined,
    code: 'UNAUTHORIZED'
  })
  // Absent values are left out of the line, not written as null.
  assert.ok(!('apiKeyId' in line('log-miss')) && !('code' in line('log-miss')) && !('cache' in line('log-create')))
})
