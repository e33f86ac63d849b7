// request.identity: resolved once per request, from one cache of key lookups, for auth and rate limiting alike.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { apiKey, bearer, build, type TestApp } from '../helper.js'

/** How many SELECTs on api_keys the primary pool has run so far. */
async function keyLookups(app: TestApp): Promise<number> {
  const text = await app.metrics.registry.getSingleMetricAsString('db_query_duration_seconds')
  const line = text
    .split('\n')
    .find((l) =>
      l.startsWith('db_query_duration_seconds_count{pool="primary",operation="select",table="api_keys",outcome="ok"}')
    )
  return Number(line?.split(' ')[1] ?? 0)
}

const write = (app: TestApp, key: string, sku: string) =>
  app.inject({
    method: 'POST',
    url: '/api/v1/products',
    headers: bearer(key),
    payload: { sku, name: sku, priceCents: 100, currency: 'EUR' }
  })

test('when a key sends requests with rate limiting on, then each write looks it up once for auth and the limit, and public reads use the cache', async (t) => {
  const app = await build(t, { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_RULES: 'editors: role:editor 50/1m' })
  const key = await apiKey(app)
  const before = await keyLookups(app)
  const first = await write(app, key, 'ID-1')
  assert.equal(first.statusCode, 201, first.body)
  assert.match(String(first.headers['ratelimit-policy']), /^"editors";q=50;/, 'the limit saw the key and its role')
  assert.equal(await keyLookups(app), before + 1, 'one lookup for the first request')
  assert.equal((await write(app, key, 'ID-2')).statusCode, 201)
  assert.equal(
    await keyLookups(app),
    before + 2,
    'a write checks its key on the primary (the cached lookup is verified)'
  )
  assert.equal((await app.inject({ method: 'GET', url: '/api/v1/products', headers: bearer(key) })).statusCode, 200)
  assert.equal(await keyLookups(app), before + 2, 'a public read uses the cached lookup')
})

test('when a made-up key is sent, then it is refused each time, and public reads with it use the cached lookup', async (t) => {
  const app = await build(t)
  const before = await keyLookups(app)
  for (let i = 0; i < 2; i++) {
    const res = await write(app, 'ck_not-a-real-key', `FAKE-${i}`)
    assert.equal(res.statusCode, 401)
    assert.match(String(res.headers['www-authenticate']), /error="invalid_token"/)
  }
  assert.equal(await keyLookups(app), before + 2, 'one lookup per write')
  const read = await app.inject({ method: 'GET', url: '/api/v1/products', headers: bearer('ck_not-a-real-key') })
  assert.equal(read.statusCode, 200)
  assert.equal(await keyLookups(app), before + 2)
})

test('when a key is revoked in the database after use, then its next write is refused at once', async (t) => {
  const app = await build(t)
  const key = await apiKey(app)
  assert.equal((await write(app, key, 'REV-1')).statusCode, 201)
  assert.equal((await app.inject({ method: 'GET', url: '/api/v1/products', headers: bearer(key) })).statusCode, 200)
  await app.db.primary.query('UPDATE api_keys SET revoked_at = now() WHERE revoked_at IS NULL')
  const refused = await write(app, key, 'REV-2')
  assert.equal(refused.statusCode, 401)
  assert.match(String(refused.headers['www-authenticate']), /error="invalid_token"/)
})

test('when health or metrics are asked with an Authorization header, then no key is looked up', async (t) => {
  const app = await build(t)
  const before = await keyLookups(app)
  for (const url of ['/health/live', '/health/ready', '/metrics'])
    assert.equal((await app.inject({ method: 'GET', url, headers: bearer('ck_scraper') })).statusCode, 200, url)
  assert.equal(await keyLookups(app), before)
})
