import assert from 'node:assert/strict'
import { test } from 'node:test'
import { apiKey, bearer, build, count } from '../helper.js'

const PRODUCTS = '/api/v1/products'
const body = (sku: string, over: object = {}) => ({
  sku,
  name: `Idem ${sku}`,
  priceCents: 500,
  currency: 'USD',
  ...over
})
const withKey = (key: string, idempotencyKey: string) => ({ ...bearer(key), 'idempotency-key': idempotencyKey })
const auditCount = async (app: Awaited<ReturnType<typeof build>>, entityType = 'product') =>
  (
    await app.db.primary.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_log WHERE entity_type = $1', [
      entityType
    ])
  ).rows[0]?.n

test('when a POST is retried with the same key and body, then the stored status and body are replayed with Idempotent-Replayed and nothing is written twice', async (t) => {
  const app = await build(t)
  const key = await apiKey(app)
  const first = await app.inject({
    method: 'POST',
    url: PRODUCTS,
    headers: withKey(key, 'order-1'),
    payload: body('IK-1')
  })
  assert.equal(first.statusCode, 201)
  assert.equal(first.headers['idempotent-replayed'], undefined)
  // The same body with its keys in another order is the same request.
  const again = await app.inject({
    method: 'POST',
    url: PRODUCTS,
    headers: withKey(key, 'order-1'),
    payload: { currency: 'USD', priceCents: 500, name: 'Idem IK-1', sku: 'IK-1' }
  })
  assert.equal(again.statusCode, 201)
  assert.equal(again.headers['idempotent-replayed'], 'true')
  assert.deepEqual(again.json(), first.json())
  assert.equal(again.headers.location, first.headers.location)
  assert.equal(await count(app, 'products'), 1)
  assert.equal(await auditCount(app), 1)
})

test('when a PATCH is retried with the same key, then the first response is replayed and the product changes once', async (t) => {
  const app = await build(t)
  const key = await apiKey(app)
  const created = (
    await app.inject({ method: 'POST', url: PRODUCTS, headers: bearer(key), payload: body('IK-P') })
  ).json().data
  const patch = () =>
    app.inject({
      method: 'PATCH',
      url: `${PRODUCTS}/${created.id}`,
      headers: withKey(key, 'bump-1'),
      payload: { description: 'Seven' }
    })
  const first = await patch()
  const again = await patch()
  assert.equal(first.statusCode, 200)
  assert.equal(again.statusCode, 200)
  assert.equal(again.headers['idempotent-replayed'], 'true')
  assert.equal(again.json().data.version, 2)
  assert.equal(again.headers.etag, first.headers.etag)
  const { rows } = await app.db.primary.query('SELECT version FROM products WHERE id = $1', [created.id])
  assert.equal(rows[0].version, 2)
  assert.equal(await auditCount(app), 2)
})

test('when a key is reused with a different body or on another path, then 422 IDEMPOTENCY_KEY_REUSED and nothing is written', async (t) => {
  const app = await build(t)
  const key = await apiKey(app)
  assert.equal(
    (await app.inject({ method: 'POST', url: PRODUCTS, headers: withKey(key, 'k-1'), payload: body('IK-2') }))
      .statusCode,
    201
  )
  for (const [url, payload] of [
    [PRODUCTS, body('IK-2', { priceCents: 501 })],
    ['/api/v1/categories', { name: 'Other' }]
  ] as const) {
    const res = await app.inject({ method: 'POST', url, headers: withKey(key, 'k-1'), payload })
    assert.equal(res.statusCode, 422, res.body)
    assert.equal(res.json().code, 'IDEMPOTENCY_KEY_REUSED')
  }
  assert.equal(await count(app, 'products'), 1)
  assert.equal(await count(app, 'categories'), 0)
})

test('when a retry arrives while the first request is still running, then 409 IDEMPOTENCY_KEY_IN_USE with Retry-After, and later the replay', async (t) => {
  const app = await build(t)
  const key = await apiKey(app)
  // In this test's database a product's COMMIT takes 600 ms, so the first request is still running when the retry comes.
  await app.db.primary.query(`
    CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.6); RETURN NULL; END $$;
    CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON products DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();`)
  const request = () =>
    app.inject({ method: 'POST', url: PRODUCTS, headers: withKey(key, 'busy-1'), payload: body('IK-3') })
  const first = request()
  await new Promise((resolve) => setTimeout(resolve, 200))
  const retry = await request()
  assert.equal(retry.statusCode, 409, retry.body)
  assert.equal(retry.json().code, 'IDEMPOTENCY_KEY_IN_USE')
  assert.equal(retry.headers['retry-after'], '1')
  assert.equal((await first).statusCode, 201)
  const later = await request()
  assert.equal(later.statusCode, 201)
  assert.equal(later.headers['idempotent-replayed'], 'true')
  assert.equal(await count(app, 'products'), 1)
})

test('when ten POSTs with one key arrive at once, then exactly one product and one audit entry exist and every answer is 201 or 409', async (t) => {
  const app = await build(t, { DB_POOL_MAX: '12' })
  const key = await apiKey(app)
  // A 300 ms COMMIT keeps the first request running while the other nine arrive.
  await app.db.primary.query(`
    CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$;
    CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON products DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();`)
  const results = await Promise.all(
    Array.from({ length: 10 }, () =>
      app.inject({ method: 'POST', url: PRODUCTS, headers: withKey(key, 'storm-1'), payload: body('IK-STORM') })
    )
  )
  const statuses = results.map((r) => r.statusCode)
  assert.ok(
    statuses.every((s) => s === 201 || s === 409),
    statuses.join(',')
  )
  assert.equal(results.filter((r) => r.statusCode === 201 && r.headers['idempotent-replayed'] === undefined).length, 1)
  assert.ok(statuses.includes(409), 'the others ran while the first held the key')
  assert.equal(await count(app, 'products'), 1)
  assert.equal(await auditCount(app), 1)
  const ids = new Set(results.filter((r) => r.statusCode === 201).map((r) => r.json().data.id))
  assert.equal(ids.size, 1)
})

test('when two API keys use the same Idempotency-Key, then each has its own scope', async (t) => {
  const app = await build(t)
  const a = await apiKey(app)
  const b = await apiKey(app)
  assert.equal(
    (await app.inject({ method: 'POST', url: PRODUCTS, headers: withKey(a, 'shared'), payload: body('IK-A') }))
      .statusCode,
    201
  )
  const other = await app.inject({
    method: 'POST',
    url: PRODUCTS,
    headers: withKey(b, 'shared'),
    payload: body('IK-B')
  })
  assert.equal(other.statusCode, 201)
  assert.equal(other.headers['idempotent-replayed'], undefined)
  assert.equal(await count(app, 'products'), 2)
})

test('when the Idempotency-Key is empty or longer than 255 characters, then 400 naming the header', async (t) => {
  const app = await build(t)
  const key = await apiKey(app)
  for (const value of ['', 'k'.repeat(256)]) {
    const res = await app.inject({
      method: 'POST',
      url: PRODUCTS,
      headers: withKey(key, value),
      payload: body('IK-LEN')
    })
    assert.equal(res.statusCode, 400, res.body)
    assert.equal(res.json().errors[0].field, 'idempotency-key')
  }
  assert.equal(
    (
      await app.inject({
        method: 'POST',
        url: PRODUCTS,
        headers: withKey(key, 'k'.repeat(255)),
        payload: body('IK-LEN')
      })
    ).statusCode,
    201
  )
})

test('when the first request fails, then its key is not used up and a corrected retry runs', async (t) => {
  const app = await build(t)
  const key = await apiKey(app)
  const bad = await app.inject({
    method: 'POST',
    url: PRODUCTS,
    headers: withKey(key, 'fix-1'),
    payload: body('IK-F', { categoryId: 999999 })
  })
  assert.equal(bad.statusCode, 422)
  assert.equal(bad.json().code, 'UNKNOWN_CATEGORY')
  const fixed = await app.inject({
    method: 'POST',
    url: PRODUCTS,
    headers: withKey(key, 'fix-1'),
    payload: body('IK-F')
  })
  assert.equal(fixed.statusCode, 201)
})

test('when a key is older than IDEMPOTENCY_KEY_TTL_HOURS, then it is pruned by the retention run and may be used again', async (t) => {
  const app = await build(t, { AUDIT_RETENTION_INTERVAL_MS: '0' })
  const key = await apiKey(app)
  assert.equal(
    (await app.inject({ method: 'POST', url: PRODUCTS, headers: withKey(key, 'old-1'), payload: body('IK-O1') }))
      .statusCode,
    201
  )
  assert.equal(
    (await app.inject({ method: 'POST', url: PRODUCTS, headers: withKey(key, 'new-1'), payload: body('IK-N1') }))
      .statusCode,
    201
  )
  await app.db.primary.query(`UPDATE idempotency_keys SET created_at = now() - interval '23 hours' WHERE key = 'new-1'`)
  await app.db.primary.query(`UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old-1'`)
  const result = await app.audit.runRetention()
  assert.equal(result.keysPruned, 1)
  const { rows } = await app.db.primary.query<{ key: string }>('SELECT key FROM idempotency_keys')
  assert.deepEqual(
    rows.map((r) => r.key),
    ['new-1']
  )
  const reused = await app.inject({
    method: 'POST',
    url: PRODUCTS,
    headers: withKey(key, 'old-1'),
    payload: body('IK-O2')
  })
  assert.equal(reused.statusCode, 201)
  assert.equal(reused.headers['idempotent-replayed'], undefined)
})

test('when a category POST and PATCH are retried with their keys, then both are replayed and each change is audited once', async (t) => {
  const app = await build(t)
  const key = await apiKey(app)
  const create = () =>
    app.inject({
      method: 'POST',
      url: '/api/v1/categories',
      headers: withKey(key, 'cat-1'),
      payload: { name: 'Idempotent' }
    })
  const first = await create()
  assert.equal(first.statusCode, 201)
  const again = await create()
  assert.equal(again.statusCode, 201)
  assert.equal(again.headers['idempotent-replayed'], 'true')
  const id = first.json().data.id
  const rename = () =>
    app.inject({
      method: 'PATCH',
      url: `/api/v1/categories/${id}`,
      headers: withKey(key, 'cat-2'),
      payload: { name: 'Renamed' }
    })
  assert.equal((await rename()).statusCode, 200)
  assert.equal((await rename()).headers['idempotent-replayed'], 'true')
  assert.equal(await count(app, 'categories'), 1)
  assert.equal(await auditCount(app, 'category'), 2)
})
