import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parse } from 'csv-parse/sync'
import { apiKey, assertProblem, bearer, build, seed } from '../helper.js'

const EXPORT = '/api/v1/exports/products'

test('when the catalog is exported as NDJSON, then every product comes as one line in the API’s shape, in id order', async (t) => {
  const app = await build(t)
  await seed(app, 30)
  const key = await apiKey(app, 'editor')
  const res = await app.inject({ url: `${EXPORT}?format=ndjson`, headers: bearer(key) })
  assert.equal(res.statusCode, 200, res.body)
  assert.match(String(res.headers['content-type']), /^application\/x-ndjson/)
  const lines = res.body
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l))
  assert.equal(lines.length, 30)
  assert.deepEqual(
    lines.map((p) => p.id),
    [...lines.map((p) => p.id)].sort((a, b) => a - b)
  )
  const one = await app.inject({ url: `/api/v1/products/${lines[0].id}`, headers: bearer(key) })
  assert.deepEqual(lines[0], one.json().data)
})

test('when the export is filtered, then only the matching products are written', async (t) => {
  const app = await build(t)
  await seed(app, 30)
  const key = await apiKey(app, 'admin')
  const all = await app.inject({ url: `${EXPORT}?status=active`, headers: bearer(key) })
  const lines = all.body
    .trimEnd()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
  assert.ok(lines.length > 0)
  assert.ok(lines.every((p) => p.status === 'active'))
  const sku = lines[0].variants[0].sku
  const bySku = await app.inject({ url: `${EXPORT}?sku=${sku}`, headers: bearer(key) })
  assert.equal(bySku.body.trimEnd().split('\n').length, 1)
})

test('when the catalog is exported as CSV and as Shopify CSV, then each variant and image has its row under a header', async (t) => {
  const app = await build(t)
  await seed(app, 10)
  const key = await apiKey(app, 'editor')
  const ndjson = await app.inject({ url: EXPORT, headers: bearer(key) })
  const products = ndjson.body
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l))
  const variants = products.reduce((n, p) => n + Math.max(p.variants.length, p.media.length, 1), 0)
  for (const [format, key0] of [
    ['csv', 'slug'],
    ['shopify-csv', 'Handle']
  ] as const) {
    const res = await app.inject({ url: `${EXPORT}?format=${format}`, headers: bearer(key) })
    assert.equal(res.statusCode, 200, res.body)
    assert.match(String(res.headers['content-type']), /^text\/csv/)
    const rows = parse<Record<string, string>>(res.body, { columns: true })
    assert.equal(rows.length, variants)
    assert.deepEqual(new Set(rows.map((r) => r[key0])), new Set(products.map((p) => p.slug)))
  }
})

test('when a storefront key or no key asks for an export, then 403 or 401', async (t) => {
  const app = await build(t)
  const storefront = await apiKey(app, 'storefront')
  assertProblem(await app.inject({ url: EXPORT, headers: bearer(storefront) }), 403, 'FORBIDDEN')
  assertProblem(await app.inject({ url: EXPORT }), 401, 'UNAUTHORIZED')
})
