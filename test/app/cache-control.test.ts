import assert from 'node:assert/strict'
import { test } from 'node:test'
import { apiKey, bearer, build, seed } from '../helper.js'

const PUBLIC = 'public, max-age=0, s-maxage=7, stale-while-revalidate=7'
const PRIVATE = 'private, no-store'

test('when the catalog is read anonymously, then a CDN may keep the answer for CDN_MAX_AGE_SECONDS', async (t) => {
  const app = await build(t, { CDN_MAX_AGE_SECONDS: '7' })
  await seed(app, 5)
  const tree = await app.inject({ method: 'GET', url: '/api/v1/categories' })
  const categoryId = tree.json().data[0].id
  for (const url of [
    '/api/v1/products?limit=2',
    '/api/v1/products/1',
    '/api/v1/categories',
    `/api/v1/categories/${categoryId}`,
    `/api/v1/categories/${categoryId}/tree`
  ]) {
    const res = await app.inject({ method: 'GET', url })
    assert.equal(res.statusCode, 200, url)
    assert.equal(res.headers['cache-control'], PUBLIC, url)
    assert.match(String(res.headers.vary), /X-Consistency-Token/, url)
    const head = await app.inject({ method: 'HEAD', url })
    assert.equal(head.headers['cache-control'], PUBLIC, `HEAD ${url}`)
  }
  const etag = String((await app.inject({ method: 'GET', url: '/api/v1/products/1' })).headers.etag)
  const notModified = await app.inject({ method: 'GET', url: '/api/v1/products/1', headers: { 'if-none-match': etag } })
  assert.equal(notModified.statusCode, 304)
  assert.equal(notModified.headers['cache-control'], PUBLIC, 'a 304 carries the same Cache-Control as its 200')
})

test('when a read carries an API key or a consistency token, or fails, then it is private, no-store', async (t) => {
  const app = await build(t)
  await seed(app, 3)
  const key = await apiKey(app, 'admin')
  const keyed = await app.inject({ method: 'GET', url: '/api/v1/products/1', headers: bearer(key) })
  assert.equal(keyed.statusCode, 200)
  assert.equal(keyed.headers['cache-control'], PRIVATE)
  const token = await app.inject({
    method: 'GET',
    url: '/api/v1/products?limit=1',
    headers: { 'x-consistency-token': '0/0' }
  })
  assert.equal(token.headers['cache-control'], PRIVATE)
  for (const url of ['/api/v1/products/999999', '/api/v1/products/abc', '/api/v1/products?limit=0', '/nowhere']) {
    const res = await app.inject({ method: 'GET', url })
    assert.ok(res.statusCode >= 400, url)
    assert.equal(res.headers['cache-control'], PRIVATE, `${url} → ${res.statusCode}`)
  }
  const tooLong = await app.inject({ method: 'GET', url: `/api/v1/products/${'9'.repeat(200)}` })
  assert.equal(tooLong.statusCode, 414)
  assert.equal(tooLong.headers['cache-control'], PRIVATE, 'a framework error too')
})

test('when admin routes, writes or health checks answer, then they are private, no-store', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'admin')
  const created = await app.inject({
    method: 'POST',
    url: '/api/v1/categories',
    headers: bearer(key),
    payload: { name: 'Lamps' }
  })
  assert.equal(created.statusCode, 201)
  assert.equal(created.headers['cache-control'], PRIVATE)
  for (const url of ['/api/v1/api-keys', '/api/v1/audit-logs', '/health', '/health/ready']) {
    const res = await app.inject({ method: 'GET', url, headers: bearer(key) })
    assert.equal(res.statusCode, 200, url)
    assert.equal(res.headers['cache-control'], PRIVATE, url)
  }
  const anonymousAdmin = await app.inject({ method: 'GET', url: '/api/v1/api-keys' })
  assert.equal(anonymousAdmin.statusCode, 401)
  assert.equal(anonymousAdmin.headers['cache-control'], PRIVATE)
})

test('when CDN_MAX_AGE_SECONDS is not a whole number of seconds up to a day, then the configuration is refused', async (t) => {
  await assert.rejects(build(t, { CDN_MAX_AGE_SECONDS: '-1' }), /CDN_MAX_AGE_SECONDS/)
  await assert.rejects(build(t, { CDN_MAX_AGE_SECONDS: '86401' }), /CDN_MAX_AGE_SECONDS/)
  const app = await build(t, { CDN_MAX_AGE_SECONDS: '0' })
  await seed(app, 1)
  const res = await app.inject({ method: 'GET', url: '/api/v1/products/1' })
  assert.equal(res.headers['cache-control'], 'public, max-age=0, s-maxage=0, stale-while-revalidate=0')
})
