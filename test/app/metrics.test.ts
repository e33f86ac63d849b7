import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { buildInfo } from '../../src/lib/build-info.js'
import { projectRoot } from '../../src/lib/project-root.js'
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

test('when load is shed, then http_requests_shed_total counts it by reason and /metrics is still served', async (t) => {
  // Any heap is over a 1-byte limit: every request is shed once the plugin has taken two samples.
  const app = await build(t, { PRESSURE_MAX_HEAP_USED_BYTES: '1', PRESSURE_SAMPLE_INTERVAL_MS: '50' })
  const before = await app.inject({ method: 'GET', url: '/metrics' })
  assert.match(before.body, /^http_requests_shed_total\{reason="heapUsedBytes"\} 0$/m, 'each reason starts at 0')
  await new Promise((resolve) => setTimeout(resolve, 300))
  assertProblem(await app.inject({ method: 'GET', url: '/api/v1/products' }), 503, 'SERVICE_UNAVAILABLE')
  assertProblem(await app.inject({ method: 'GET', url: '/api/v1/categories' }), 503, 'SERVICE_UNAVAILABLE')
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  assert.equal(res.statusCode, 200, 'the scrape is never shed')
  assert.match(res.body, /^http_requests_shed_total\{reason="heapUsedBytes"\} 2$/m)
  assert.match(res.body, /^http_requests_shed_total\{reason="rssBytes"\} 0$/m)
})

test('catalog_build_info says the version, the commit from GIT_COMMIT and the Node.js version', async (t) => {
  const app = await build(t, { GIT_COMMIT: '0123abc' })
  const { version } = JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version: string }
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  assert.match(
    res.body,
    new RegExp(
      `^catalog_build_info\\{version="${version}",commit="0123abc",node_version="${process.version}"\\} 1$`,
      'm'
    )
  )
})

test('without GIT_COMMIT, then the commit is the one npm run build recorded in dist/, else unknown', async (t) => {
  // Running from src/ (tsx) there is no build beside the module: unknown.
  assert.equal(buildInfo(undefined).commit, 'unknown')
  assert.equal(buildInfo('feed123').commit, 'feed123')
  const built = join(projectRoot(), 'dist', 'src', 'lib', 'build-info.js')
  if (!existsSync(built)) return t.skip('no build in dist/ (npm run build)')
  const recorded = join(projectRoot(), 'dist', '.build-commit')
  const expected = existsSync(recorded) ? readFileSync(recorded, 'utf8').trim() : 'unknown'
  const fromDist = (await import(built)) as { buildInfo: typeof buildInfo }
  assert.equal(fromDist.buildInfo(undefined).commit, expected)
  if (existsSync(join(projectRoot(), '.git')))
    assert.match(expected, /^[0-9a-f]{40}$/, 'a git checkout records its commit')
})
