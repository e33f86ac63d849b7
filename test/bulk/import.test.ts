import assert from 'node:assert/strict'
import { once } from 'node:events'
import { type AddressInfo, connect } from 'node:net'
import { Readable } from 'node:stream'
import { test } from 'node:test'
import { ANALYZE_AFTER_PRODUCTS } from '../../src/modules/bulk/import-service.js'
import { verifyChain } from '../../src/writes/verify.js'
import { apiKey, assertProblem, bearer, build, type TestApp } from '../helper.js'

const IMPORTS = '/api/v1/imports'
const price = (currency: string, amountCents: number | string) => ({ currency, amountCents })

const tee = (slug: string, extra: Record<string, unknown> = {}) => ({
  name: `Tee ${slug}`,
  slug,
  status: 'active',
  tags: ['cotton'],
  options: [{ name: 'Size', values: ['S', 'M'] }],
  variants: [
    { sku: `${slug}-S`, optionValues: ['S'], prices: [price('USD', 1999), price('EUR', 1899)], stock: 3 },
    { sku: `${slug}-M`, optionValues: ['M'], prices: [price('USD', 2099)], stock: 0 }
  ],
  media: [{ url: `https://cdn.example.com/${slug}.jpg`, alt: 'Front', variantSkus: [`${slug}-M`] }],
  ...extra
})

const ndjson = (lines: unknown[]) => lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n')

async function importFile(app: TestApp, key: string, body: string, query = '', type = 'application/x-ndjson') {
  return app.inject({
    method: 'POST',
    url: `${IMPORTS}${query}`,
    headers: { ...bearer(key), 'content-type': type },
    payload: body
  })
}

test('when an NDJSON file is imported twice, then the first creates its products and the second changes nothing', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const file = ndjson([tee('tee-a'), tee('tee-b')])
  const first = await importFile(app, key, file)
  assert.equal(first.statusCode, 202, first.body)
  const data = first.json().data
  assert.match(String(first.headers.location), /^\/api\/v1\/imports\/\d+$/)
  assert.equal(data.status, 'completed')
  assert.deepEqual(data.counts, { created: 2, updated: 0, unchanged: 0, failed: 0 })
  assert.equal(data.rows, 2)
  assert.equal(data.variants, 4)

  const product = (await app.inject({ url: '/api/v1/products/by-slug/tee-a', headers: bearer(key) })).json().data
  assert.equal(product.variants.length, 2)
  assert.deepEqual(product.variants[0].prices, [price('USD', 1999), price('EUR', 1899)])
  assert.deepEqual(product.media[0].variantIds, [product.variants[1].id])
  assert.deepEqual(product.priceRange, { USD: { min: 1999, max: 2099 }, EUR: { min: 1899, max: 1899 } })

  const second = await importFile(app, key, file)
  assert.deepEqual(second.json().data.counts, { created: 0, updated: 0, unchanged: 2, failed: 0 })
  const status = await app.inject({ url: String(first.headers.location), headers: bearer(key) })
  assert.equal(status.statusCode, 200)
  assert.deepEqual(status.json().data.counts, data.counts)

  // One audit entry per product created, none for the unchanged import; sealed into the chain, which verifies, and
  // turned into change events like any write.
  await app.audit.seal()
  const { rows } = await app.db.primary.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM audit_log WHERE entity_type = 'product'"
  )
  assert.equal(rows[0]?.n, 2)
  const verified = await verifyChain(app.db.primary, { maxDelayMs: 60_000 })
  assert.equal(verified.ok, true, JSON.stringify(verified))
  const events = await app.db.primary.query<{ type: string; slug: string; variants: number }>(
    "SELECT type, data->>'slug' AS slug, json_array_length(data->'variants') AS variants FROM events ORDER BY position"
  )
  assert.deepEqual(events.rows, [
    { type: 'product.created', slug: 'tee-a', variants: 2 },
    { type: 'product.created', slug: 'tee-b', variants: 2 }
  ])
})

test('when an imported line changes a product, then it is updated: variants by SKU, removed ones deleted', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  await importFile(app, key, ndjson([tee('tee-a')]))
  const before = (await app.inject({ url: '/api/v1/products/by-slug/tee-a', headers: bearer(key) })).json().data
  const changed = tee('tee-a', { name: 'Renamed tee' })
  changed.variants = [{ ...changed.variants[0], stock: 9 }] as typeof changed.variants
  changed.options = [{ name: 'Size', values: ['S'] }]
  changed.media = []
  const res = await importFile(app, key, ndjson([changed]))
  assert.deepEqual(res.json().data.counts, { created: 0, updated: 1, unchanged: 0, failed: 0 })
  const after = (await app.inject({ url: '/api/v1/products/by-slug/tee-a', headers: bearer(key) })).json().data
  assert.equal(after.id, before.id)
  assert.equal(after.name, 'Renamed tee')
  assert.equal(after.version, before.version + 1)
  assert.deepEqual(
    after.variants.map((v: { id: number; stock: number }) => [v.id, v.stock]),
    [[before.variants[0].id, 9]]
  )
})

test('when lines are malformed or invalid, then each is its line’s error with its field and the rest is imported', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const file = ndjson([
    tee('tee-a'),
    '{"name": broken',
    tee('tee-b', { variants: [{ sku: 'tee-b-S', prices: [price('USD', 'x')] }], options: [] }),
    tee('tee-c', { variants: [{ sku: 'tee-a-S', prices: [] }], options: [], media: [] }),
    '',
    tee('tee-d')
  ])
  const res = await importFile(app, key, file)
  const data = res.json().data
  assert.deepEqual(data.counts, { created: 2, updated: 0, unchanged: 0, failed: 3 })
  assert.equal(data.errorCount, 3)
  assert.deepEqual(
    data.errors.map((e: { line: number; field: string | null; code: string }) => [e.line, e.field, e.code]),
    [
      [2, null, 'MALFORMED_LINE'],
      [3, 'variants[0].prices[0].amountCents', 'VALIDATION_FAILED'],
      [4, 'variants[0].sku', 'SKU_TAKEN']
    ]
  )
})

test('when an import is a dry run, then it reports what would happen and writes nothing', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'admin')
  const res = await importFile(app, key, ndjson([tee('tee-a'), tee('tee-b', { categoryId: 999 })]), '?dryRun=true')
  const data = res.json().data
  assert.equal(data.dryRun, true)
  assert.deepEqual(data.counts, { created: 1, updated: 0, unchanged: 0, failed: 1 })
  assert.equal(data.errors[0].code, 'UNKNOWN_CATEGORY')
  const { rows } = await app.db.primary.query<{ n: number }>('SELECT count(*)::int AS n FROM products')
  assert.equal(rows[0]?.n, 0)
})

test('when the body is not NDJSON or CSV, then 415; a storefront key, then 403; an unknown import, then 404', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  assertProblem(
    await importFile(app, key, JSON.stringify(tee('a')), '', 'application/json'),
    415,
    'UNSUPPORTED_MEDIA_TYPE'
  )
  assertProblem(await importFile(app, key, 'x', '', 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE')
  const storefront = await apiKey(app, 'storefront')
  assertProblem(await importFile(app, storefront, ndjson([tee('a')])), 403, 'FORBIDDEN')
  assertProblem(await app.inject({ url: `${IMPORTS}/12345`, headers: bearer(key) }), 404, 'IMPORT_NOT_FOUND')
})

test('when the declared body is larger than IMPORT_MAX_BYTES, then 413 before anything is read', async (t) => {
  const app = await build(t, { IMPORT_MAX_BYTES: '4096' })
  const key = await apiKey(app, 'editor')
  const res = await importFile(app, key, ndjson(Array.from({ length: 20 }, (_, i) => tee(`tee-${i}`))))
  assertProblem(res, 413, 'PAYLOAD_TOO_LARGE')
  const { rows } = await app.db.primary.query<{ n: number }>('SELECT count(*)::int AS n FROM imports')
  assert.equal(rows[0]?.n, 0)
})

test('when a streamed body grows past IMPORT_MAX_BYTES, then 413: committed batches stay, the batch being read is not written, the import is failed at its first line', async (t) => {
  const lines = Array.from({ length: 1000 }, (_, i) => JSON.stringify(tee(`tee-${i}`)))
  // The first batch (500 products) fits; the limit falls inside the second.
  const limit = Buffer.byteLength(lines.slice(0, 700).join('\n'))
  const app = await build(t, { IMPORT_MAX_BYTES: String(limit) })
  const key = await apiKey(app, 'editor')
  const res = await app.inject({
    method: 'POST',
    url: IMPORTS,
    headers: { ...bearer(key), 'content-type': 'application/x-ndjson' },
    payload: Readable.from(lines.map((l) => `${l}\n`))
  })
  assertProblem(res, 413, 'PAYLOAD_TOO_LARGE')
  const { rows } = await app.db.primary.query<{ n: number; status: string; failed_at_line: number }>(
    'SELECT (SELECT count(*)::int FROM products) AS n, status, failed_at_line FROM imports'
  )
  assert.deepEqual(rows[0], { n: 500, status: 'failed', failed_at_line: 501 })
})

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = await read()
    if (done(value)) return value
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`timed out waiting for ${what}`)
}

test('when the client goes away mid-import, then the committed batches stay, the batch being read is not written, and the import is failed at its first line', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  const socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  socket.write(
    `POST ${IMPORTS} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\n` +
      'Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n'
  )
  const body = `${Array.from({ length: 600 }, (_, i) => JSON.stringify(tee(`tee-${i}`))).join('\n')}\n`
  socket.write(`${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n`)
  const state = () =>
    app.db.primary
      .query<{ committed_line: number; status: string; failed_at_line: number | null }>(
        'SELECT committed_line, status, failed_at_line FROM imports'
      )
      .then((r) => r.rows[0])
  await until(state, (s) => (s?.committed_line ?? 0) >= 500, 'the first batch')
  socket.destroy()
  const failed = await until(state, (s) => s?.status === 'failed', 'the import to fail')
  assert.equal(failed?.failed_at_line, 501)
  const { rows } = await app.db.primary.query<{ n: number }>('SELECT count(*)::int AS n FROM products')
  assert.equal(rows[0]?.n, 500)
})

test('when an import’s instance stopped (no progress for a minute), then GET reports it failed after its last committed line', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const { rows } = await app.db.primary.query<{ id: number }>(
    `INSERT INTO imports (format, dry_run, rows, created, committed_line, started_at, heartbeat_at)
     VALUES ('csv', false, 1200, 1000, 1100, now() - interval '10 minutes', now() - interval '5 minutes') RETURNING id`
  )
  const res = await app.inject({ url: `${IMPORTS}/${rows[0]?.id}`, headers: bearer(key) })
  assert.equal(res.statusCode, 200)
  const data = res.json().data
  assert.equal(data.status, 'failed')
  assert.equal(data.failedAtLine, 1101)
  assert.match(data.failure, /send the file again/)
})

test('when an import changes a product, then cached reads of it and of the lists show the change at once', async (t) => {
  const app = await build(t, { CACHE_ENABLED: 'true' })
  const key = await apiKey(app, 'editor')
  await importFile(app, key, ndjson([tee('tee-a')]))
  const read = async () => (await app.inject({ url: '/api/v1/products/by-slug/tee-a' })).json().data.name
  const list = async () => (await app.inject({ url: '/api/v1/products?limit=5' })).json().data[0].name
  assert.equal(await read(), 'Tee tee-a')
  assert.equal(await list(), 'Tee tee-a')
  await importFile(app, key, ndjson([tee('tee-a', { name: 'Renamed' })]))
  assert.equal(await read(), 'Renamed')
  assert.equal(await list(), 'Renamed')
})

test('when more than 1,000 rows fail, then the first 1,000 errors are kept and all are counted', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const file = ndjson([...Array.from({ length: 1100 }, () => '{"name": '), tee('tee-ok')])
  const data = (await importFile(app, key, file)).json().data
  assert.equal(data.errorCount, 1100)
  assert.equal(data.errors.length, 1000)
  assert.equal(data.errors[999].line, 1000)
  assert.deepEqual(data.counts, { created: 1, updated: 0, unchanged: 0, failed: 1100 })
})

test('when an import writes many products, then the catalog tables are analyzed at its end; a small one leaves them alone', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const analyzed = async () =>
    (
      await app.db.primary.query<{ relname: string }>(
        `SELECT relname FROM pg_stat_user_tables
          WHERE relname IN ('products', 'product_variants', 'product_prices', 'product_documents')
            AND last_analyze IS NOT NULL ORDER BY relname`
      )
    ).rows.map((r) => r.relname)
  const small = await importFile(app, key, ndjson([tee('small-a'), tee('small-b')]))
  assert.equal(small.json().data.status, 'completed')
  assert.deepEqual(await analyzed(), [])

  const many = Array.from({ length: ANALYZE_AFTER_PRODUCTS }, (_, i) => tee(`many-${i}`))
  const big = await importFile(app, key, ndjson(many))
  assert.deepEqual(big.json().data.counts, { created: ANALYZE_AFTER_PRODUCTS, updated: 0, unchanged: 0, failed: 0 })
  assert.deepEqual(await analyzed(), ['product_documents', 'product_prices', 'product_variants', 'products'])
})
