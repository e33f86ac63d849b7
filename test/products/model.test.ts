import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { LightMyRequestResponse } from 'fastify'
import { apiKey, assertProblem, bearer, build, type TestApp } from '../helper.js'

const PRODUCTS = '/api/v1/products'
const price = (currency: string, amountCents: number) => ({ currency, amountCents })

/** The T-shirt of the README: three sizes priced in USD and EUR, two images. */
const tShirt = (over: Record<string, unknown> = {}, prefix = 'TEE') => ({
  name: 'Organic cotton T-shirt',
  status: 'active',
  tags: ['cotton', 'summer'],
  options: [{ name: 'Size', values: ['S', 'M', 'L'] }],
  variants: ['S', 'M', 'L'].map((size, i) => ({
    sku: `${prefix}-${size}`,
    optionValues: [size],
    prices: [price('USD', 1999 + i * 250), price('EUR', 1899 + i * 250)],
    stock: 10
  })),
  media: [
    { url: 'https://cdn.example.com/tee-front.jpg', alt: 'Front', width: 1200, height: 1600 },
    { url: 'https://cdn.example.com/tee-back.jpg', alt: 'Back' }
  ],
  ...over
})

async function setup(t: Parameters<typeof build>[0]) {
  const app = await build(t)
  const editor = bearer(await apiKey(app, 'editor'))
  const admin = bearer(await apiKey(app, 'admin'))
  const storefront = bearer(await apiKey(app, 'storefront'))
  return { app, editor, admin, storefront }
}

async function create(app: TestApp, headers: Record<string, string>, body: Record<string, unknown>) {
  const res = await app.inject({ method: 'POST', url: PRODUCTS, headers, payload: body })
  assert.equal(res.statusCode, 201, res.body)
  return res.json().data
}

/** A rejected write: a 4xx problem naming `field`, and no product, variant or audit entry written. */
async function assertRejected(
  app: TestApp,
  res: LightMyRequestResponse,
  status: number,
  code: string,
  field: string | null
) {
  const body = assertProblem(res, status, code)
  if (field !== null)
    assert.ok(
      body.errors?.some((e) => e.field === field),
      `errors name ${field}: ${res.body}`
    )
  return body
}

async function counts(app: TestApp) {
  const { rows } = await app.db.primary.query<{ p: number; v: number; a: number }>(
    `SELECT (SELECT count(*)::int FROM products) AS p, (SELECT count(*)::int FROM product_variants) AS v,
            (SELECT count(*)::int FROM audit_log) AS a`
  )
  return rows[0]
}

test('when a T-shirt is created with three sizes, two currencies and two images, then it comes back embedded, with one audit entry per entity', async (t) => {
  const { app, editor } = await setup(t)
  const product = await create(app, editor, tShirt())
  assert.deepEqual(product.options, [{ name: 'Size', values: ['S', 'M', 'L'] }])
  assert.deepEqual(
    product.variants.map((v: { sku: string; title: string; position: number }) => [v.sku, v.title, v.position]),
    [
      ['TEE-S', 'S', 0],
      ['TEE-M', 'M', 1],
      ['TEE-L', 'L', 2]
    ]
  )
  assert.deepEqual(product.priceRange, { USD: { min: 1999, max: 2499 }, EUR: { min: 1899, max: 2399 } })
  assert.deepEqual(
    product.media.map((m: { url: string; alt: string; width: number | null }) => [m.url, m.alt, m.width]),
    [
      ['https://cdn.example.com/tee-front.jpg', 'Front', 1200],
      ['https://cdn.example.com/tee-back.jpg', 'Back', null]
    ]
  )
  assert.deepEqual(product.tags, ['cotton', 'summer'])
  const { rows } = await app.db.primary.query(
    'SELECT entity_type, entity_id FROM audit_log WHERE action = $1 ORDER BY id',
    ['create']
  )
  assert.deepEqual(
    rows.filter((r) => r.entity_type !== 'api_key').map((r) => [r.entity_type, r.entity_id]),
    [
      ['product', product.id],
      ...product.variants.map((v: { id: number }) => ['variant', v.id]),
      ...product.media.map((m: { id: number }) => ['media', m.id])
    ]
  )
  const read = await app.inject({ url: `${PRODUCTS}/${product.id}` })
  assert.deepEqual(read.json().data, product)
})

test('when a product is created without status, then it is a draft that anonymous and storefront readers cannot see', async (t) => {
  const { app, editor, storefront } = await setup(t)
  const draft = await create(app, editor, tShirt({ status: undefined, name: 'Hidden tee' }, 'HID'))
  assert.equal(draft.status, 'draft')
  const active = await create(app, editor, tShirt({ name: 'Shown tee' }, 'SHO'))
  for (const headers of [{}, storefront]) {
    assertProblem(await app.inject({ url: `${PRODUCTS}/${draft.id}`, headers }), 404, 'PRODUCT_NOT_FOUND')
    assertProblem(await app.inject({ url: `${PRODUCTS}/by-slug/${draft.slug}`, headers }), 404, 'PRODUCT_NOT_FOUND')
    const list = await app.inject({ url: PRODUCTS, headers })
    assert.deepEqual(
      list.json().data.map((p: { id: number }) => p.id),
      [active.id]
    )
    assertProblem(await app.inject({ url: `${PRODUCTS}?status=draft`, headers }), 403, 'FORBIDDEN')
  }
  const staff = await app.inject({ url: `${PRODUCTS}/${draft.id}`, headers: editor })
  assert.equal(staff.json().data.status, 'draft')
  const drafts = await app.inject({ url: `${PRODUCTS}?status=draft`, headers: editor })
  assert.deepEqual(
    drafts.json().data.map((p: { id: number }) => p.id),
    [draft.id]
  )
  // The anonymous answer was cached; the editor's read of the same URL is not served from it.
  const all = await app.inject({ url: PRODUCTS, headers: editor })
  assert.equal(all.json().data.length, 2)
})

test('when a product and a category are read by slug, then they answer with ETags and 304 on a current If-None-Match', async (t) => {
  const { app, editor } = await setup(t)
  const product = await create(app, editor, tShirt({ slug: 'organic-tee' }))
  const first = await app.inject({ url: `${PRODUCTS}/by-slug/organic-tee` })
  assert.equal(first.statusCode, 200)
  assert.equal(first.json().data.id, product.id)
  assert.equal(first.headers.etag, `"${product.id}.${product.version}"`)
  const again = await app.inject({
    url: `${PRODUCTS}/by-slug/organic-tee`,
    headers: { 'if-none-match': String(first.headers.etag) }
  })
  assert.equal(again.statusCode, 304)
  assertProblem(await app.inject({ url: `${PRODUCTS}/by-slug/no-such-tee` }), 404, 'PRODUCT_NOT_FOUND')

  const category = await app.inject({
    method: 'POST',
    url: '/api/v1/categories',
    headers: editor,
    payload: { name: 'Shirts', slug: 'shirts' }
  })
  const bySlug = await app.inject({ url: '/api/v1/categories/by-slug/shirts' })
  assert.equal(bySlug.json().data.id, category.json().data.id)
  assert.equal(bySlug.headers.etag, category.headers.etag)
  assert.equal(
    (
      await app.inject({
        url: '/api/v1/categories/by-slug/shirts',
        headers: { 'if-none-match': String(bySlug.headers.etag) }
      })
    ).statusCode,
    304
  )
  assertProblem(await app.inject({ url: '/api/v1/categories/by-slug/none' }), 404, 'CATEGORY_NOT_FOUND')
})

test('when a variant SKU is taken, then 409 SKU_TAKEN names it and nothing is written', async (t) => {
  const { app, editor } = await setup(t)
  const first = await create(app, editor, tShirt({ options: [{ name: 'Size', values: ['S', 'M', 'L', 'XL'] }] }))
  const before = await counts(app)
  const taken = await app.inject({
    method: 'POST',
    url: PRODUCTS,
    headers: editor,
    payload: tShirt({ name: 'Another tee' }, 'TEE')
  })
  const body = await assertRejected(app, taken, 409, 'SKU_TAKEN', 'sku')
  assert.match(body.detail, /TEE-S/)
  const twice = await app.inject({
    method: 'POST',
    url: PRODUCTS,
    headers: editor,
    payload: tShirt({
      variants: [
        { sku: 'DUP', optionValues: ['S'], prices: [] },
        { sku: 'DUP', optionValues: ['M'], prices: [] }
      ]
    })
  })
  assert.match((await assertRejected(app, twice, 409, 'SKU_TAKEN', 'variants[1].sku')).detail, /DUP/)
  const added = await app.inject({
    method: 'POST',
    url: `${PRODUCTS}/${first.id}/variants`,
    headers: editor,
    payload: { sku: 'TEE-M', optionValues: ['XL'], prices: [] }
  })
  assert.match((await assertRejected(app, added, 409, 'SKU_TAKEN', 'sku')).detail, /TEE-M/)
  assert.deepEqual(await counts(app), before)
})

test('when variants do not fit the options, then 422 INVALID_OPTION_VALUES names the field and nothing is written', async (t) => {
  const { app, editor } = await setup(t)
  const before = await counts(app)
  const cases: [string, Record<string, unknown>[]][] = [
    ['variants[0].optionValues[0]', [{ sku: 'X-1', optionValues: ['XL'], prices: [] }]],
    ['variants[0].optionValues', [{ sku: 'X-1', prices: [] }]],
    [
      'variants[1].optionValues',
      [
        { sku: 'X-1', optionValues: ['S'], prices: [] },
        { sku: 'X-2', optionValues: ['S'], prices: [] }
      ]
    ]
  ]
  for (const [field, variants] of cases) {
    const res = await app.inject({ method: 'POST', url: PRODUCTS, headers: editor, payload: tShirt({ variants }) })
    await assertRejected(app, res, 422, 'INVALID_OPTION_VALUES', field)
  }
  assert.deepEqual(await counts(app), before)
})

test('when prices, media, tags or variant counts are out of bounds, then 400 names the field and nothing is written', async (t) => {
  const { app, editor } = await setup(t)
  const before = await counts(app)
  const one = (prices: unknown[]) => [{ sku: 'B-1', optionValues: ['S'], prices }]
  const cases: [string, Record<string, unknown>][] = [
    ['variants.0.prices.0.currency', { variants: one([price('XYZ', 100)]) }],
    ['variants[0].prices[1].currency', { variants: one([price('USD', 100), price('USD', 200)]) }],
    ['variants.0.prices.0.amountCents', { variants: one([price('USD', 1.5)]) }],
    ['media.0.url', { media: [{ url: 'http://cdn.example.com/a.jpg' }] }],
    ['media.0.url', { media: [{ url: `https://cdn.example.com/${'a'.repeat(2040)}.jpg` }] }],
    // An unpaired surrogate cannot be stored as sent (PostgreSQL's JSON refuses it).
    ['media.0.url', { media: [{ url: 'https://cdn.example.com/\ud800.jpg' }] }],
    ['media', { media: Array.from({ length: 51 }, (_, i) => ({ url: `https://cdn.example.com/${i}.jpg` })) }],
    ['tags', { tags: Array.from({ length: 51 }, (_, i) => `tag-${i}`) }],
    ['tags.0', { tags: ['Not Lower'] }],
    [
      'variants',
      {
        options: [],
        variants: Array.from({ length: 101 }, (_, i) => ({ sku: `MANY-${i}`, prices: [] }))
      }
    ],
    ['variants[0].barcode', { variants: [{ sku: 'B-1', optionValues: ['S'], prices: [], barcode: '4006381333932' }] }]
  ]
  for (const [field, over] of cases) {
    const res = await app.inject({ method: 'POST', url: PRODUCTS, headers: editor, payload: tShirt(over) })
    await assertRejected(app, res, 400, 'VALIDATION_FAILED', field)
  }
  const valid = await app.inject({
    method: 'POST',
    url: PRODUCTS,
    headers: editor,
    payload: tShirt({
      variants: [{ sku: 'B-1', optionValues: ['S'], prices: [], barcode: '4006381333931' }],
      media: [{ url: 'https://cdn.example.com/caf\u00e9-\ud83c\udf89.jpg' }]
    })
  })
  assert.equal(valid.statusCode, 201, 'a GTIN-13 with a right check digit is accepted')
  assert.equal((await counts(app))?.p, (before?.p ?? 0) + 1)
})

test('when a storefront key writes, then 403 and nothing is written', async (t) => {
  const { app, editor, storefront } = await setup(t)
  const product = await create(app, editor, tShirt())
  const before = await counts(app)
  const variant = product.variants[0]
  const writes = [
    { method: 'POST' as const, url: PRODUCTS, payload: tShirt({}, 'SF') },
    { method: 'PATCH' as const, url: `${PRODUCTS}/${product.id}`, payload: { name: 'x' } },
    {
      method: 'POST' as const,
      url: `${PRODUCTS}/${product.id}/variants/${variant.id}/stock-adjustments`,
      payload: { delta: -1, reason: 'x' }
    },
    { method: 'PUT' as const, url: `${PRODUCTS}/${product.id}/media`, payload: { media: [] } }
  ]
  for (const write of writes) assertProblem(await app.inject({ ...write, headers: storefront }), 403, 'FORBIDDEN')
  assert.deepEqual(await counts(app), before)
  const read = await app.inject({ url: `${PRODUCTS}/${product.id}`, headers: storefront })
  assert.equal(read.statusCode, 200)
})

test('when variants are added, changed and deleted, then If-Match guards each, the product version moves and the last one stays', async (t) => {
  const { app, editor, admin } = await setup(t)
  const product = await create(app, editor, tShirt())
  const stale = await app.inject({
    method: 'POST',
    url: `${PRODUCTS}/${product.id}/variants`,
    headers: { ...editor, 'if-match': '"1.999"' },
    payload: { sku: 'TEE-XL', optionValues: ['L'], prices: [] }
  })
  assertProblem(stale, 412, 'PRECONDITION_FAILED')
  const duplicate = await app.inject({
    method: 'POST',
    url: `${PRODUCTS}/${product.id}/variants`,
    headers: { ...editor, 'if-match': `"${product.id}.${product.version}"` },
    payload: { sku: 'TEE-L2', optionValues: ['L'], prices: [] }
  })
  await assertRejected(app, duplicate, 422, 'INVALID_OPTION_VALUES', 'optionValues')

  const [small, medium, large] = product.variants
  const patched = await app.inject({
    method: 'PATCH',
    url: `${PRODUCTS}/${product.id}/variants/${small.id}`,
    headers: { ...editor, 'if-match': `"${small.id}.${small.version}"` },
    payload: { stock: 3, prices: [price('USD', 1499), price('JPY', 2500)] }
  })
  assert.equal(patched.statusCode, 200, patched.body)
  assert.equal(patched.headers.etag, `"${small.id}.${small.version + 1}"`)
  assert.ok(patched.headers['x-consistency-token'])
  const again = await app.inject({
    method: 'PATCH',
    url: `${PRODUCTS}/${product.id}/variants/${small.id}`,
    headers: { ...editor, 'if-match': `"${small.id}.${small.version}"` },
    payload: { stock: 4 }
  })
  assertProblem(again, 412, 'PRECONDITION_FAILED')

  const read = (await app.inject({ url: `${PRODUCTS}/${product.id}` })).json().data
  assert.equal(read.version, product.version + 1, 'the product read is not a stale cache entry')
  assert.deepEqual(read.priceRange, {
    USD: { min: 1499, max: 2499 },
    EUR: { min: 2149, max: 2399 },
    JPY: { min: 2500, max: 2500 }
  })

  for (const v of [medium, large]) {
    const res = await app.inject({
      method: 'DELETE',
      url: `${PRODUCTS}/${product.id}/variants/${v.id}`,
      headers: admin
    })
    assert.equal(res.statusCode, 204)
  }
  const last = await app.inject({
    method: 'DELETE',
    url: `${PRODUCTS}/${product.id}/variants/${small.id}`,
    headers: admin
  })
  assertProblem(last, 409, 'LAST_VARIANT')
  const { rows } = await app.db.primary.query('SELECT count(*)::int AS n FROM product_variants WHERE product_id = $1', [
    product.id
  ])
  assert.equal(rows[0].n, 1)
})

test('when 50 adjustments of -1 race on a stock of 20, then exactly 20 succeed, 30 get 409 INSUFFICIENT_STOCK and the stock is 0', async (t) => {
  const { app, editor } = await setup(t)
  const product = await create(app, editor, tShirt({ options: [], variants: [{ sku: 'RACE', prices: [], stock: 20 }] }))
  const variant = product.variants[0]
  const url = `${PRODUCTS}/${product.id}/variants/${variant.id}/stock-adjustments`
  const answers = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      app.inject({ method: 'POST', url, headers: editor, payload: { delta: -1, reason: `order ${i}` } })
    )
  )
  const statuses = answers.map((r) => r.statusCode)
  assert.equal(statuses.filter((s) => s === 200).length, 20)
  assert.equal(statuses.filter((s) => s === 409).length, 30)
  for (const r of answers.filter((a) => a.statusCode === 409)) assertProblem(r, 409, 'INSUFFICIENT_STOCK')
  const { rows } = await app.db.primary.query('SELECT stock FROM product_variants WHERE id = $1', [variant.id])
  assert.equal(rows[0].stock, 0)
  const audited = await app.db.primary.query(
    `SELECT count(*)::int AS n FROM audit_log WHERE entity_type = 'variant' AND action = 'update' AND entity_id = $1`,
    [variant.id]
  )
  assert.equal(audited.rows[0].n, 20)
})

test('when a stock adjustment is retried with its Idempotency-Key, then it is applied once and the answer replayed', async (t) => {
  const { app, editor } = await setup(t)
  const product = await create(app, editor, tShirt())
  const variant = product.variants[0]
  const request = {
    method: 'POST' as const,
    url: `${PRODUCTS}/${product.id}/variants/${variant.id}/stock-adjustments`,
    headers: { ...editor, 'idempotency-key': 'restock-1' },
    payload: { delta: 5, reason: 'delivery 77' }
  }
  const first = await app.inject(request)
  const second = await app.inject(request)
  assert.equal(first.statusCode, 200)
  assert.equal(second.statusCode, 200)
  assert.equal(second.headers['idempotent-replayed'], 'true')
  assert.equal(first.json().data.stock, 15)
  assert.deepEqual(second.json().data, first.json().data)
  const { rows } = await app.db.primary.query('SELECT stock FROM product_variants WHERE id = $1', [variant.id])
  assert.equal(rows[0].stock, 15)
})

test('when media are replaced in one call, then the new ordered list is stored, and variant ids must be the product’s', async (t) => {
  const { app, editor } = await setup(t)
  const product = await create(app, editor, tShirt())
  const other = await create(app, editor, tShirt({ name: 'Other' }, 'OTH'))
  const wrong = await app.inject({
    method: 'PUT',
    url: `${PRODUCTS}/${product.id}/media`,
    headers: editor,
    payload: { media: [{ url: 'https://cdn.example.com/x.jpg', variantIds: [other.variants[0].id] }] }
  })
  await assertRejected(app, wrong, 400, 'VALIDATION_FAILED', 'media[0].variantIds')
  const res = await app.inject({
    method: 'PUT',
    url: `${PRODUCTS}/${product.id}/media`,
    headers: { ...editor, 'if-match': `"${product.id}.${product.version}"` },
    payload: {
      media: [
        { url: 'https://cdn.example.com/tee-back.jpg', alt: 'Back' },
        { url: 'https://cdn.example.com/tee-s.jpg', alt: 'Small', variantIds: [product.variants[0].id] }
      ]
    }
  })
  assert.equal(res.statusCode, 200, res.body)
  const media = res.json().data.media
  assert.deepEqual(
    media.map((m: { alt: string; variantIds: number[] }) => [m.alt, m.variantIds]),
    [
      ['Back', []],
      ['Small', [product.variants[0].id]]
    ]
  )
  assert.equal((await app.inject({ url: `${PRODUCTS}/${product.id}` })).json().data.media.length, 2)
})
