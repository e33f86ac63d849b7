// request.identity: resolved once per request, from one cache of key lookups, for auth and rate limiting alike.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createApiKey } from '../../src/modules/api-keys/service.js'
import pg from 'pg'
import { Identities } from '../../src/plugins/app/identity.js'
import { apiKey, bearer, build, createTestDatabase, defer, type TestApp } from '../helper.js'
import { startProxy } from '../tcp-proxy.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

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
    before + 1,
    'a catalog write with a key this instance knows checks it in its own transaction, not in a lookup of its own'
  )
  assert.equal((await app.inject({ method: 'GET', url: '/api/v1/products', headers: bearer(key) })).statusCode, 200)
  assert.equal(await keyLookups(app), before + 1, 'a public read uses the cached lookup')
  assert.equal((await app.inject({ method: 'GET', url: '/api/v1/audit-logs', headers: bearer(key) })).statusCode, 403)
  assert.equal(await keyLookups(app), before + 2, 'a keyed operation that writes nothing asks the primary')
})

test('when a key this instance knows is revoked elsewhere, then every catalog write route answers 401 and changes nothing', async (t) => {
  const app = await build(t)
  const admin = bearer(await apiKey(app, 'admin'))
  const revoked = await createApiKey(app.db.primary, { name: 'revoked elsewhere', role: 'admin' })
  const p = '/api/v1/products'
  const made = await app.inject({
    method: 'POST',
    url: p,
    headers: admin,
    payload: {
      name: 'Tee',
      options: [{ name: 'Size', values: ['S', 'M', 'L'] }],
      variants: ['S', 'M'].map((size) => ({ sku: `REV-${size}`, optionValues: [size], prices: [], stock: 5 }))
    }
  })
  assert.equal(made.statusCode, 201, made.body)
  const product = made.json().data as { id: number; variants: { id: number }[] }
  const variant = product.variants[0]?.id
  const category = await app.inject({
    method: 'POST',
    url: '/api/v1/categories',
    headers: admin,
    payload: { name: 'C' }
  })
  const categoryId = category.json().data.id as number
  // The key is used (and its lookup cached here), then revoked where this instance cannot see it happen.
  const used = await app.inject({
    method: 'POST',
    url: '/api/v1/categories',
    headers: bearer(revoked.key),
    payload: { name: 'Made before revocation' }
  })
  assert.equal(used.statusCode, 201)
  await app.db.primary.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [revoked.id])

  const state = async () => {
    const { rows } = await app.db.primary.query(
      `SELECT (SELECT json_agg(p ORDER BY id) FROM products p) AS products,
              (SELECT json_agg(v ORDER BY id) FROM product_variants v) AS variants,
              (SELECT json_agg(c ORDER BY id) FROM categories c) AS categories,
              (SELECT count(*)::int FROM audit_log) AS audited`
    )
    return rows[0]
  }
  const before = await state()
  const etag = async (url: string) => String((await app.inject({ url, headers: admin })).headers.etag)
  const productTag = await etag(`${p}/${product.id}`)
  const writes: { method: 'POST' | 'PATCH' | 'PUT' | 'DELETE'; url: string; payload?: object; ifMatch?: string }[] = [
    { method: 'POST', url: p, payload: { sku: 'REV-NEW', name: 'New', priceCents: 100, currency: 'EUR' } },
    { method: 'PATCH', url: `${p}/${product.id}`, payload: { name: 'Renamed' }, ifMatch: productTag },
    { method: 'DELETE', url: `${p}/${product.id}`, ifMatch: productTag },
    {
      method: 'POST',
      url: `${p}/${product.id}/variants`,
      payload: { sku: 'REV-L', optionValues: ['L'], prices: [] },
      ifMatch: productTag
    },
    {
      method: 'PATCH',
      url: `${p}/${product.id}/variants/${variant}`,
      payload: { stock: 9 },
      ifMatch: await etag(`${p}/${product.id}/variants/${variant}`)
    },
    {
      method: 'DELETE',
      url: `${p}/${product.id}/variants/${variant}`,
      ifMatch: await etag(`${p}/${product.id}/variants/${variant}`)
    },
    {
      method: 'POST',
      url: `${p}/${product.id}/variants/${variant}/stock-adjustments`,
      payload: { delta: -1, reason: 'count' }
    },
    { method: 'PUT', url: `${p}/${product.id}/media`, payload: { media: [] }, ifMatch: productTag },
    { method: 'POST', url: '/api/v1/categories', payload: { name: 'After revocation' } },
    { method: 'PATCH', url: `/api/v1/categories/${categoryId}`, payload: { name: 'Renamed' } },
    { method: 'DELETE', url: `/api/v1/categories/${categoryId}` }
  ]
  for (const { ifMatch, ...write } of writes) {
    const res = await app.inject({
      ...write,
      headers: { ...bearer(revoked.key), ...(ifMatch ? { 'if-match': ifMatch } : {}) }
    })
    assert.equal(res.statusCode, 401, `${write.method} ${write.url}: ${res.body}`)
    assert.match(String(res.headers['www-authenticate']), /error="invalid_token"/)
  }
  assert.deepEqual(await state(), before, 'nothing changed')
  // The same writes with a working key succeed: each request above was valid but for its key.
  for (const { ifMatch, ...write } of writes.slice(0, 2)) {
    const res = await app.inject({ ...write, headers: { ...admin, ...(ifMatch ? { 'if-match': ifMatch } : {}) } })
    assert.ok(res.statusCode < 300, `${write.method} ${write.url} with a working key: ${res.body}`)
  }
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

test('when the database cannot be asked, then a key keeps its last lookup for rate limiting and public reads (up to KEY_STALE_MS), never for what it grants', async (t) => {
  const target = await createTestDatabase(t)
  const proxy = await startProxy({ host: '127.0.0.1', port: target.port })
  defer(t, () => proxy.close())
  const pool = new pg.Pool({ ...target, port: proxy.port, connectionTimeoutMillis: 500, query_timeout: 500 })
  pool.on('error', () => {})
  defer(t, () => pool.end())
  const { key } = await createApiKey(pool, { name: 'outage', role: 'editor' })
  const identities = new Identities(() => pool, 100, 50, 1000)
  const header = `Bearer ${key}`
  assert.equal((await identities.resolve(header)).kind, 'key')

  proxy.setMode('reset')
  await sleep(80) // past the 50 ms a lookup is trusted
  const stale = await identities.resolve(header)
  assert.equal(stale.kind, 'key', 'the last lookup stands while the database is out')
  assert.equal((await identities.verify(header)).kind, 'unverified', 'what a key grants is never taken from the cache')
  assert.equal((await identities.resolve('Bearer ck_never-seen')).kind, 'unverified', 'no lookup to fall back on')
  const joined = await Promise.all([identities.admit('Bearer ck_other'), identities.admit('Bearer ck_other')])
  assert.deepEqual(
    joined.map((j) => ('asked' in j ? [j.identity.kind, j.asked] : j.kind)),
    [
      ['unverified', true],
      ['unverified', true]
    ],
    'a shared lookup that failed stands for every request that waited for it (none asks again)'
  )
  await sleep(1100) // past the stale bound too
  assert.equal((await identities.resolve(header)).kind, 'unverified')

  proxy.setMode('pass')
  assert.equal((await identities.resolve(header)).kind, 'key', 'looked up again once the database answers')
})

/** A pool on a new test database with one editor key, and a count of the queries sent through it. */
async function countedKeyLookups(t: Parameters<typeof createTestDatabase>[0]) {
  const pool = new pg.Pool(await createTestDatabase(t))
  defer(t, () => pool.end())
  const { key, id } = await createApiKey(pool, { name: 'counted', role: 'editor' })
  const counted = {
    queries: 0,
    query: ((...args: Parameters<pg.Pool['query']>) => {
      counted.queries += 1
      return pool.query(...args)
    }) as pg.Pool['query']
  }
  return { header: `Bearer ${key}`, id, counted }
}

test('when a key is forgotten while a lookup of it is on its way, then that answer is not kept', async (t) => {
  const { header, id, counted } = await countedKeyLookups(t)
  const identities = new Identities(() => counted, 100, 60_000, 1000)
  const lookup = identities.resolve(header)
  assert.ok(lookup instanceof Promise)
  identities.forget(id)
  assert.equal((await lookup).kind, 'key', 'answered as the primary said when asked')
  assert.ok(identities.resolve(header) instanceof Promise, 'not kept: the next request asks again')
  assert.equal(counted.queries, 2)
})

test('when many requests with one key arrive after its lookup expired, then one lookup answers them all, and only the first counts as asked for its request', async (t) => {
  const { header, counted } = await countedKeyLookups(t)
  const identities = new Identities(() => counted, 100, 60, 1000)
  assert.equal((await identities.resolve(header)).kind, 'key')
  assert.equal(counted.queries, 1)
  await sleep(80) // past the 60 ms a lookup is trusted
  const admitted = Array.from({ length: 20 }, () => identities.admit(header))
  assert.ok(
    admitted.every((a) => a instanceof Promise),
    'an expired lookup is asked again'
  )
  const resolved = await Promise.all(admitted)
  assert.equal(counted.queries, 2, 'twenty waiting requests, one query')
  assert.deepEqual(
    resolved.map((r) => [r.identity.kind, r.asked]),
    [['key', true], ...Array.from({ length: 19 }, () => ['key', false])],
    'a request that joined a lookup sent before it arrived is not taken as checked on the primary'
  )
  assert.equal((await identities.verify(header)).kind, 'key')
  assert.equal(counted.queries, 3, 'what a key grants is always a query of its own')
})

test('when a key keeps sending requests, then its lookup is renewed before it expires and no request waits for it', async (t) => {
  const { header, counted } = await countedKeyLookups(t)
  const identities = new Identities(() => counted, 100, 400, 1000)
  assert.equal((await identities.resolve(header)).kind, 'key')
  await sleep(100)
  assert.ok(!(identities.resolve(header) instanceof Promise), 'answered from the cache')
  assert.equal(counted.queries, 1, 'early in its life the lookup is not renewed')
  await sleep(250) // into the last quarter of the 400 ms
  const late = identities.resolve(header)
  assert.ok(!(late instanceof Promise), 'still answered from the cache at once')
  assert.equal(late.kind, 'key')
  assert.ok(!(identities.resolve(header) instanceof Promise))
  assert.equal(counted.queries, 2, 'one renewal in the background, however many requests ask meanwhile')
  await sleep(150) // past the first lookup's 400 ms
  assert.ok(!(identities.resolve(header) instanceof Promise), 'the renewed lookup answers')
  assert.equal(counted.queries, 2)
})
