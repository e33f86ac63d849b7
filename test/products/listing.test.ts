import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Database } from '../../src/db/database.js'
import { createCursorCodec } from '../../src/lib/cursor.js'
import { listProducts } from '../../src/modules/products/service.js'
import type { ListProductsQuery, Product } from '../../src/modules/products/schemas.js'
import { apiKey, assertProblem, bearer, build, seed, type TestApp } from '../helper.js'

const PRODUCTS = '/api/v1/products'
const price = (currency: string, amountCents: number) => ({ currency, amountCents })

async function create(app: TestApp, key: string, body: Record<string, unknown>): Promise<Product> {
  const res = await app.inject({
    method: 'POST',
    url: PRODUCTS,
    headers: bearer(key),
    payload: { status: 'active', ...body }
  })
  assert.equal(res.statusCode, 201, res.body)
  return res.json().data
}

async function ids(app: TestApp, query: string): Promise<number[]> {
  const res = await app.inject({ url: `${PRODUCTS}?${query}` })
  assert.equal(res.statusCode, 200, res.body)
  return res.json().data.map((p: Product) => p.id)
}

test('when a list is sorted by price in a currency, then it orders by the lowest variant price there and leaves out products without one', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const cheapInEur = await create(app, key, {
    name: 'Cheap in EUR',
    options: [{ name: 'Size', values: ['S', 'M'] }],
    variants: [
      { sku: 'A-S', optionValues: ['S'], prices: [price('USD', 900), price('EUR', 500)] },
      { sku: 'A-M', optionValues: ['M'], prices: [price('USD', 300), price('EUR', 700)] }
    ]
  })
  const dearInEur = await create(app, key, {
    name: 'Dear in EUR',
    variants: [{ sku: 'B', prices: [price('USD', 100), price('EUR', 2000)] }]
  })
  const usdOnly = await create(app, key, { name: 'USD only', variants: [{ sku: 'C', prices: [price('USD', 200)] }] })
  const yen = await create(app, key, { name: 'Yen', variants: [{ sku: 'D', prices: [price('JPY', 1500)] }] })

  assert.deepEqual(await ids(app, 'sort=price'), [dearInEur.id, usdOnly.id, cheapInEur.id], 'USD, the default currency')
  assert.deepEqual(await ids(app, 'sort=price&currency=EUR'), [cheapInEur.id, dearInEur.id])
  assert.deepEqual(await ids(app, 'sort=-price&currency=EUR'), [dearInEur.id, cheapInEur.id])
  assert.deepEqual(await ids(app, 'currency=EUR&minPrice=600'), [dearInEur.id], 'bounds apply to the lowest price')
  assert.deepEqual(await ids(app, 'sort=price&currency=JPY'), [yen.id], 'JPY amounts are whole yen')
  assert.equal((await ids(app, 'currency=EUR')).length, 4, 'without a price filter or sort every product is shown')
  // A product's variant price change moves it in the price order at once.
  const variant = dearInEur.variants[0] as Product['variants'][number]
  const patched = await app.inject({
    method: 'PATCH',
    url: `${PRODUCTS}/${dearInEur.id}/variants/${variant.id}`,
    headers: bearer(key),
    payload: { prices: [price('EUR', 100)] }
  })
  assert.equal(patched.statusCode, 200, patched.body)
  assert.deepEqual(await ids(app, 'sort=price&currency=EUR'), [dearInEur.id, cheapInEur.id])
  assert.deepEqual(await ids(app, 'sort=price'), [usdOnly.id, cheapInEur.id], 'its USD price is gone')
  assertProblem(await app.inject({ url: `${PRODUCTS}?currency=XYZ` }), 400, 'VALIDATION_FAILED')
})

test('when filtered by tag, sku, hasStock or a q equal to a SKU, then only the matching products are listed', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const both = await create(app, key, {
    name: 'Kettle',
    tags: ['kitchen', 'sale'],
    variants: [{ sku: 'KET-1', prices: [], stock: 0 }]
  })
  const kitchen = await create(app, key, {
    name: 'Mug',
    tags: ['kitchen'],
    options: [{ name: 'Colour', values: ['Red', 'Blue'] }],
    variants: [
      { sku: 'MUG-RED', optionValues: ['Red'], prices: [], stock: 0 },
      { sku: 'MUG-BLUE', optionValues: ['Blue'], prices: [], stock: 4 }
    ]
  })
  const other = await create(app, key, { name: 'Lamp', tags: ['sale'], variants: [{ sku: 'LAMP-1', prices: [] }] })
  assert.deepEqual(await ids(app, 'tag=kitchen'), [kitchen.id, both.id])
  assert.deepEqual(await ids(app, 'tag=kitchen&tag=sale'), [both.id], 'repeated: every tag')
  assert.deepEqual(await ids(app, 'sku=MUG-BLUE'), [kitchen.id])
  assert.deepEqual(await ids(app, 'sku=MUG'), [], 'exact, not a prefix')
  assert.deepEqual(await ids(app, 'hasStock=true'), [kitchen.id])
  assert.deepEqual(await ids(app, 'hasStock=false'), [other.id, both.id])
  assert.deepEqual(await ids(app, 'q=MUG-RED'), [kitchen.id], 'q matches a variant SKU exactly')
  assert.deepEqual(await ids(app, 'q=lamp'), [other.id], 'and still searches names')
  assertProblem(await app.inject({ url: `${PRODUCTS}?tag=Not%20Lower` }), 400, 'VALIDATION_FAILED')
})

test('when a page of products with variants is listed, then it takes one query, two with the category subtree', async (t) => {
  const app = await build(t)
  await seed(app, 60)
  const client = await app.db.primary.connect()
  try {
    const captured: string[] = []
    const capturing = {
      query: (text: string, values?: unknown[]) => {
        captured.push(text)
        return client.query(text, values)
      }
    }
    const deps = {
      db: { reader: () => capturing } as unknown as Database,
      cursors: createCursorCodec('secret', 'catalog-api'),
      defaultCurrency: 'USD'
    }
    const base = { limit: 20, sort: 'newest', includeDescendants: false } as ListProductsQuery
    for (const query of [base, { ...base, sort: 'price' as const }, { ...base, tag: ['sale'], hasStock: true }]) {
      captured.length = 0
      const page = await listProducts(deps, query, 'public')
      assert.ok(page.items.length > 0)
      const items = page.items.map((json) => JSON.parse(json) as { variants: unknown[]; status: string })
      assert.ok(items.every((p) => p.variants.length === 3 && p.status === 'active'))
      assert.equal(captured.length, 1, `one query: ${JSON.stringify(query)}`)
    }
    captured.length = 0
    await listProducts(deps, { ...base, categoryId: 1, includeDescendants: true }, 'public')
    assert.equal(captured.length, 2)
  } finally {
    client.release()
  }
})

test('when a storefront key reads, then it is counted under its own rate-limit policy', async (t) => {
  const app = await build(t, { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_STOREFRONT: '500/1m' })
  const storefront = await apiKey(app, 'storefront')
  const res = await app.inject({ url: PRODUCTS, headers: bearer(storefront) })
  assert.equal(res.statusCode, 200)
  assert.equal(res.headers['ratelimit-policy'], '"storefront";q=500;w=60')
  const anonymous = await app.inject({ url: PRODUCTS })
  assert.match(String(anonymous.headers['ratelimit-policy']), /^"default";/)
})
