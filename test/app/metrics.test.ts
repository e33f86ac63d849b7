import assert from 'node:assert/strict'
import { test } from 'node:test'
import { freePort } from '../../src/lib/free-port.js'
import { assertProblem, build } from '../helper.js'

test('when METRICS_TOKEN is set, then /metrics needs it as a bearer token', async (t) => {
  const app = await build(t, { METRICS_TOKEN: 'scrape-secret' })
  assertProblem(await app.inject({ method: 'GET', url: '/metrics' }), 401, 'UNAUTHORIZED')
  assertProblem(
    await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer wrong' } }),
    401,
    'UNAUTHORIZED'
  )
  const ok = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer scrape-secret' } })
  assert.equal(ok.statusCode, 200)
  assert.match(String(ok.headers['content-type']), /^text\/plain; version=0\.0\.4/)
  assert.match(ok.body, /^# TYPE http_requests_total counter$/m)
})

test('when METRICS_PORT is set, then metrics are served there and not on the API port', async (t) => {
  const port = await freePort()
  const app = await build(t, { METRICS_PORT: String(port), HOST: '127.0.0.1' })
  assertProblem(await app.inject({ method: 'GET', url: '/metrics' }), 404, 'ROUTE_NOT_FOUND')
  await app.inject({ method: 'GET', url: '/api/v1/products' })
  const res = await fetch(`http://127.0.0.1:${port}/metrics`)
  assert.equal(res.status, 200)
  assert.match(
    await res.text(),
    /^http_requests_total\{method="GET",route="\/api\/v1\/products",status_code="200",cache_result="miss"\} 1$/m
  )
})
