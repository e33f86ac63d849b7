import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { createApiKey } from '../../src/modules/api-keys/service.js'
import { apiKey, assertProblem, bearer, build } from '../helper.js'

// Concurrent creates share transactions (writes/coalescer.ts). With one create transaction in flight, every create
// that arrives while it runs waits and goes in the next batch; each must still get exactly its own answer.

const PRODUCTS = '/api/v1/products'
const ONE_IN_FLIGHT = { WRITE_BATCHES_IN_FLIGHT: '1', WRITE_BATCH_MAX: '64' }

const body = (n: number, sku = `BATCH-${n}`) => ({ sku, name: `Batched ${n}`, priceCents: 100 + n, currency: 'EUR' })

/** The created products' transactions (xmin) and audit entries, read on the primary. */
async function written(app: FastifyInstance) {
  const { rows: products } = await app.db.primary.query<{ id: number; sku: string; tx: string }>(
    `SELECT p.id, v.sku, p.xmin::text AS tx FROM products p JOIN product_variants v ON v.product_id = p.id ORDER BY p.id`
  )
  const { rows: entries } = await app.db.primary.query<{
    entity_type: string
    entity_id: number
    request_id: string
    new_values: { sku?: string; productId?: number; name?: string }
  }>(`SELECT entity_type, entity_id, request_id, new_values FROM audit_log WHERE action = 'create' ORDER BY id`)
  return { products, entries }
}

test('when 24 creates arrive together, then they share transactions and each gets its own product, audit entries and token', async (t) => {
  const app = await build(t, ONE_IN_FLIGHT)
  const headers = bearer(await apiKey(app, 'editor'))
  const sent = Array.from({ length: 24 }, (_, n) => body(n))
  const answers = await Promise.all(
    sent.map((payload, n) =>
      app.inject({ method: 'POST', url: PRODUCTS, headers: { ...headers, 'x-request-id': `batch-req-${n}` }, payload })
    )
  )
  const { products, entries } = await written(app)
  assert.equal(products.length, 24)
  const transactions = new Set(products.map((p) => p.tx))
  assert.ok(transactions.size < 24, `24 creates committed in ${transactions.size} transactions: none was batched`)

  answers.forEach((res, n) => {
    assert.equal(res.statusCode, 201, res.body)
    const product = res.json().data as { id: number; name: string; variants: { id: number; sku: string }[] }
    const want = sent[n] as ReturnType<typeof body>
    assert.equal(product.name, want.name)
    assert.equal(product.variants[0]?.sku, want.sku)
    assert.equal(res.headers.location, `${PRODUCTS}/${product.id}`)
    assert.equal(res.headers.etag, `"${product.id}.1"`)
    assert.match(String(res.headers['x-consistency-token']), /\S/, 'every create answers with a consistency token')
    assert.equal(products.find((p) => p.id === product.id)?.sku, want.sku, 'the answer names the row that was written')
    // One entry for the product and one for its variant, each with this request's id.
    const own = entries.filter((e) => e.request_id === `batch-req-${n}`)
    assert.deepEqual(own.map((e) => e.entity_type).sort(), ['product', 'variant'])
    assert.equal(own.find((e) => e.entity_type === 'product')?.entity_id, product.id)
    assert.equal(own.find((e) => e.entity_type === 'variant')?.new_values.sku, want.sku)
  })

  const metric = await app.metrics.registry.getSingleMetricAsString('write_batch_size')
  assert.match(metric, /write_batch_size_sum\{kind="create"\} 24\n/, 'every create is counted in its transaction')
  assert.equal(
    Number(/write_batch_size_count\{kind="create"\} (\d+)/.exec(metric)?.[1]),
    transactions.size,
    'one observation per transaction'
  )
  const read = await app.inject({ url: `${PRODUCTS}/${answers[5]?.json().data.id}`, headers })
  assert.equal(read.statusCode, 200)
  assert.equal(read.json().data.name, 'Batched 5')
})

test('when creates of one batch take the same SKU or use a key revoked since it was cached, then those fail alone and the rest are created', async (t) => {
  const app = await build(t, ONE_IN_FLIGHT)
  const headers = bearer(await apiKey(app, 'editor'))
  const doomed = await createApiKey(app.db.primary, { name: 'revoked in a batch', role: 'editor' })
  // Used once, so this instance admits it from its cache of key lookups; then revoked where it cannot see.
  const used = await app.inject({ method: 'POST', url: PRODUCTS, headers: bearer(doomed.key), payload: body(99) })
  assert.equal(used.statusCode, 201, used.body)
  await app.db.primary.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [doomed.id])
  const before = (await written(app)).products.length

  const requests = [
    ...Array.from({ length: 10 }, (_, n) => ({ headers, payload: body(n) })),
    { headers, payload: body(10, 'BATCH-3') },
    { headers: bearer(doomed.key), payload: body(11) },
    ...Array.from({ length: 6 }, (_, n) => ({ headers, payload: body(12 + n) }))
  ]
  const answers = await Promise.all(
    requests.map((r) => app.inject({ method: 'POST', url: PRODUCTS, headers: r.headers, payload: r.payload }))
  )
  const statuses = answers.map((r) => r.statusCode)
  // BATCH-3 is asked for twice: one of the two gets it, the other is told it is taken.
  const twice = [answers[3], answers[10]]
  assert.deepEqual(twice.map((r) => r?.statusCode).sort(), [201, 409], JSON.stringify(statuses))
  assertProblem(twice.find((r) => r?.statusCode === 409) as never, 409, 'SKU_TAKEN')
  assertProblem(answers[11] as never, 401, 'UNAUTHORIZED')
  const created = answers.filter((r) => r.statusCode === 201)
  assert.equal(created.length, 16, JSON.stringify(statuses))

  const { products, entries } = await written(app)
  assert.equal(products.length - before, 16, 'nothing of a refused create was written')
  assert.equal(products.filter((p) => p.sku === 'BATCH-3').length, 1)
  assert.ok(!products.some((p) => p.sku === 'BATCH-11'), 'the revoked key wrote nothing')
  for (const res of created) {
    const id = res.json().data.id as number
    assert.equal(entries.filter((e) => e.entity_type === 'product' && e.entity_id === id).length, 1)
  }
})

test('when creates with Idempotency-Keys arrive together, then they are batched, each response is stored with its key, and a retry replays it', async (t) => {
  const app = await build(t, ONE_IN_FLIGHT)
  const headers = bearer(await apiKey(app, 'editor'))
  const send = (n: number, key: string) =>
    app.inject({
      method: 'POST',
      url: PRODUCTS,
      headers: { ...headers, 'idempotency-key': key },
      payload: body(n)
    })
  const first = await Promise.all(Array.from({ length: 12 }, (_, n) => send(n, `idem-${n}`)))
  const { products } = await written(app)
  assert.equal(products.length, 12)
  assert.ok(new Set(products.map((p) => p.tx)).size < 12, 'creates with keys were batched')
  const { rows: stored } = await app.db.primary.query<{ key: string; status: number; body: { data: { id: number } } }>(
    'SELECT key, status, body FROM idempotency_keys ORDER BY key'
  )
  assert.equal(stored.length, 12)
  const again = await Promise.all(Array.from({ length: 12 }, (_, n) => send(n, `idem-${n}`)))
  first.forEach((res, n) => {
    assert.equal(res.statusCode, 201, res.body)
    assert.equal(res.headers['idempotent-replayed'], undefined)
    const replay = again[n] as (typeof again)[number]
    assert.equal(replay.statusCode, 201)
    assert.equal(replay.headers['idempotent-replayed'], 'true')
    assert.deepEqual(replay.json(), res.json(), 'the replay is the stored answer')
    const row = stored.find((s) => s.key === `idem-${n}`)
    assert.equal(row?.status, 201)
    assert.equal(row?.body.data.id, res.json().data.id)
  })
  assert.equal((await written(app)).products.length, 12, 'no retry created anything')

  // The same key twice in one burst: one creates, the other is refused or replays; one product either way.
  const twice = await Promise.all([send(40, 'idem-warm'), send(41, 'idem-dup'), send(41, 'idem-dup')])
  const dup = twice.slice(1)
  assert.ok(dup.some((r) => r.statusCode === 201 && r.headers['idempotent-replayed'] === undefined))
  for (const r of dup) assert.ok([201, 409].includes(r.statusCode), r.body)
  const { rows } = await app.db.primary.query('SELECT 1 FROM product_variants WHERE sku = $1', ['BATCH-41'])
  assert.equal(rows.length, 1)
})
