import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { test } from 'node:test'
import type { Product } from '../../src/modules/products/schemas.js'
import { apiKey, assertProblem, bearer, build, seed, type TestApp } from '../helper.js'

const fixture = (name: string) => readFile(new URL(`fixtures/${name}`, import.meta.url), 'utf8')

async function post(app: TestApp, key: string, body: string, type: string, query = '') {
  return app.inject({
    method: 'POST',
    url: `/api/v1/imports${query}`,
    headers: { ...bearer(key), 'content-type': type },
    payload: body
  })
}

async function exported(app: TestApp, key: string, format: string): Promise<string> {
  const res = await app.inject({ url: `/api/v1/exports/products?format=${format}`, headers: bearer(key) })
  assert.equal(res.statusCode, 200, res.body)
  return res.body
}

/** A product as the catalog holds it, without what the database assigns (ids, versions, times). */
function content(p: Product) {
  const skuOf = new Map(p.variants.map((v) => [v.id, v.sku]))
  return {
    ...p,
    id: undefined,
    version: undefined,
    createdAt: undefined,
    updatedAt: undefined,
    variants: p.variants.map((v) => ({
      ...v,
      id: undefined,
      version: undefined,
      createdAt: undefined,
      updatedAt: undefined
    })),
    media: p.media.map((m) => ({ ...m, id: undefined, variantIds: m.variantIds.map((id) => skuOf.get(id)) }))
  }
}
const catalogOf = (ndjson: string) =>
  ndjson
    .trimEnd()
    .split('\n')
    .filter(Boolean)
    .map((l) => content(JSON.parse(l) as Product))
    .sort((a, b) => (a.slug < b.slug ? -1 : 1))

const bySlug = async (app: TestApp, key: string, slug: string): Promise<Product> =>
  (await app.inject({ url: `/api/v1/products/by-slug/${slug}`, headers: bearer(key) })).json().data

test('when Shopify’s product CSV is imported, then every product, option, variant, price, image and HTML body arrives', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const res = await post(app, key, await fixture('shopify-products.csv'), 'text/csv', '?currency=USD')
  assert.equal(res.statusCode, 202, res.body)
  const data = res.json().data
  assert.deepEqual(data.errors, [])
  assert.equal(data.format, 'shopify-csv')
  assert.deepEqual(data.counts, { created: 3, updated: 0, unchanged: 0, failed: 0 })
  assert.equal(data.variants, 8)

  const shirt = await bySlug(app, key, 'ocean-blue-shirt')
  assert.equal(shirt.name, 'Ocean Blue Shirt')
  assert.equal(
    shirt.description,
    '<p>Ocean blue cotton shirt with a narrow collar and buttons down the front and long sleeves. Comfortable fit and tiled kalidoscope patterns.</p>\n<ul>\n  <li>100% cotton, "made to last"</li>\n  <li>Machine wash, cold</li>\n</ul>'
  )
  assert.equal(shirt.status, 'active')
  assert.deepEqual(shirt.tags, ['men', 'summer-sale'])
  assert.deepEqual(shirt.options, [
    { name: 'Size', values: ['S', 'M'] },
    { name: 'Color', values: ['Ocean Blue', 'Sand'] }
  ])
  assert.deepEqual(
    shirt.variants.map((v) => [v.sku, v.optionValues, v.prices, v.compareAtPrices, v.stock, v.weightGrams, v.barcode]),
    [
      [
        'OBS-S-BLUE',
        ['S', 'Ocean Blue'],
        [{ currency: 'USD', amountCents: 5000 }],
        [{ currency: 'USD', amountCents: 6500 }],
        12,
        300,
        '0012345678905'
      ],
      [
        'OBS-M-BLUE',
        ['M', 'Ocean Blue'],
        [{ currency: 'USD', amountCents: 5000 }],
        [{ currency: 'USD', amountCents: 6500 }],
        7,
        300,
        null
      ],
      ['OBS-S-SAND', ['S', 'Sand'], [{ currency: 'USD', amountCents: 5250 }], null, 0, 310, null],
      ['OBS-M-SAND', ['M', 'Sand'], [{ currency: 'USD', amountCents: 5250 }], null, 4, 310, null]
    ]
  )
  const id = (sku: string) => shirt.variants.find((v) => v.sku === sku)?.id
  assert.deepEqual(
    shirt.media.map((m) => [m.url.split('/').at(-1), m.alt, m.variantIds]),
    [
      ['ocean-blue-shirt-front.jpg', 'Ocean Blue Shirt front', [id('OBS-S-BLUE'), id('OBS-M-BLUE')]],
      ['ocean-blue-shirt-back.jpg', 'Back, with the collar', []],
      ['ocean-blue-shirt-sand.jpg', 'Sand colourway', [id('OBS-S-SAND'), id('OBS-M-SAND')]]
    ]
  )

  const jacket = await bySlug(app, key, 'classic-leather-jacket')
  assert.equal(jacket.status, 'draft')
  assert.deepEqual(jacket.options, [])
  assert.deepEqual(
    jacket.variants.map((v) => [v.sku, v.title, v.optionValues, v.prices]),
    [['CLJ-BLACK', 'Default', [], [{ currency: 'USD', amountCents: 28000 }]]]
  )
  const blouse = await bySlug(app, key, 'striped-silk-blouse')
  assert.deepEqual(
    blouse.options.map((o) => o.name),
    ['Size', 'Colour', 'Fit']
  )
  assert.deepEqual(blouse.variants[2]?.optionValues, ['S', 'Navy', 'Regular'])

  // The same file again changes nothing; the catalog exported as Shopify CSV reads back to the same catalog.
  const again = await post(app, key, await fixture('shopify-products.csv'), 'text/csv', '?currency=USD')
  assert.deepEqual(again.json().data.counts, { created: 0, updated: 0, unchanged: 3, failed: 0 })
  const before = catalogOf(await exported(app, key, 'ndjson'))
  const shopify = await exported(app, key, 'shopify-csv&currency=USD')
  await app.db.primary.query('TRUNCATE products CASCADE')
  const back = await post(app, key, shopify, 'text/csv', '?currency=USD')
  assert.deepEqual(back.json().data.counts, { created: 3, updated: 0, unchanged: 0, failed: 0 })
  assert.deepEqual(catalogOf(await exported(app, key, 'ndjson')), before)
})

for (const format of ['ndjson', 'csv'] as const) {
  test(`when the catalog exported as ${format} is imported into an emptied catalog, then it is the same catalog again`, async (t) => {
    const app = await build(t)
    await seed(app, 40)
    const key = await apiKey(app, 'admin')
    await post(app, key, await fixture('shopify-products.csv'), 'text/csv', '?currency=EUR')
    // Line breaks of every kind, quotes and commas in text, a CR at a field's end.
    const awkward = await app.inject({
      method: 'POST',
      url: '/api/v1/products',
      headers: bearer(key),
      payload: {
        name: 'Tee, "awkward"\r',
        slug: 'tee-awkward',
        description: 'one\r\ntwo\rthree\n"four", five\r',
        options: [{ name: 'Size', values: ['S\r', 'M'] }],
        variants: [
          { sku: 'AWK-S', optionValues: ['S\r'], prices: [{ currency: 'EUR', amountCents: 100 }] },
          { sku: 'AWK-M', optionValues: ['M'], title: 'M,\r\n"m"', prices: [] }
        ],
        media: [{ url: 'https://cdn.example.com/awk.jpg', alt: 'alt\r' }]
      }
    })
    assert.equal(awkward.statusCode, 201, awkward.body)
    const before = catalogOf(await exported(app, key, 'ndjson'))
    assert.equal(before.length, 44)
    const file = await exported(app, key, format)
    await app.db.primary.query('TRUNCATE products CASCADE')
    const res = await post(app, key, file, format === 'ndjson' ? 'application/x-ndjson' : 'text/csv')
    assert.deepEqual(res.json().data.errors, [])
    assert.deepEqual(res.json().data.counts, { created: 44, updated: 0, unchanged: 0, failed: 0 })
    assert.deepEqual(catalogOf(await exported(app, key, 'ndjson')), before)
    const again = await post(app, key, file, format === 'ndjson' ? 'application/x-ndjson' : 'text/csv')
    assert.deepEqual(again.json().data.counts, { created: 0, updated: 0, unchanged: 44, failed: 0 })
  })
}

test('when a CSV header lacks a required column, then 400 names it and nothing is written', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const csv = 'Handle,Title,Variant Price\nshirt,Shirt,10.00\n'
  const res = await post(app, key, csv, 'text/csv')
  const problem = assertProblem(res, 400, 'MISSING_COLUMN')
  assert.deepEqual(problem.errors, [{ field: 'Variant SKU', message: 'required column' }])
  const own = assertProblem(await post(app, key, 'slug,name\na,A\n', 'text/csv'), 400, 'MISSING_COLUMN')
  assert.equal(own.errors?.[0]?.field, 'sku')
  const header = assertProblem(await post(app, key, 'slug,na"me,sku\na,A,A-1\n', 'text/csv'), 400, 'BAD_REQUEST')
  assert.deepEqual(header.errors, [
    { field: 'header', message: 'field 2: a quote inside a field that does not start with one' }
  ])
  const { rows } = await app.db.primary.query<{ n: number }>('SELECT count(*)::int AS n FROM products')
  assert.equal(rows[0]?.n, 0)
})

test('when CSV rows are malformed or invalid, then each error names its line and column and the other products are imported', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const csv = [
    'slug,name,sku,prices,stock',
    'good-one,Good one,G-1,USD 10.00,1',
    'bad-price,Bad price,B-1,USD 10.001,1',
    'bad-stock,Bad stock,B-2,USD 1.00,many',
    'good-two,Good two,G-2,EUR 5.50,2'
  ].join('\n')
  const res = await post(app, key, csv, 'text/csv')
  const data = res.json().data
  console.log(JSON.stringify(data.errors))
  assert.deepEqual(data.counts, { created: 2, updated: 0, unchanged: 0, failed: 2 })
  assert.deepEqual(
    data.errors.map((e: { line: number; field: string }) => [e.line, e.field]),
    [
      [3, 'prices'],
      [4, 'stock']
    ]
  )
  assert.deepEqual((await bySlug(app, key, 'good-two')).variants[0]?.prices, [{ currency: 'EUR', amountCents: 550 }])
})

test('when a CSV line cannot be parsed, then it is its line’s error, the product it may belong to is not imported and the rest is', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const csv = [
    '\ufeffslug,name,sku,prices',
    'tee-a,"Tee ""A"", soft",A-1,USD 10.00',
    'tee-b,Tee B,B-1,USD 1.00',
    'tee-b,,B-"2,USD 2.00',
    '',
    'tee-c,Tee C,C-1,USD 3.00',
    'tee-d,Tee D,D-1,"USD 4.00"x',
    'tee-e,"Tee E',
    'in two lines",E-1,USD 5.00'
  ].join('\r\n')
  const data = (await post(app, key, csv, 'text/csv')).json().data
  // An unreadable row has no key to go by: the product being read when it came (tee-b, tee-c) is not imported.
  assert.deepEqual(data.counts, { created: 2, updated: 0, unchanged: 0, failed: 2 })
  assert.deepEqual(
    data.errors.map((e: { line: number; field: string | null; code: string; message: string }) => [
      e.line,
      e.field,
      e.code,
      e.message
    ]),
    [
      [4, null, 'MALFORMED_LINE', 'line 4: field 3: a quote inside a field that does not start with one'],
      [3, 'slug', 'MALFORMED_LINE', 'tee-b: a row of this product is malformed; the product is not imported'],
      [7, null, 'MALFORMED_LINE', 'line 7: field 4: text after its closing quote'],
      [6, 'slug', 'MALFORMED_LINE', 'tee-c: a row of this product is malformed; the product is not imported']
    ]
  )
  assert.equal((await bySlug(app, key, 'tee-a')).name, 'Tee "A", soft')
  assert.equal((await bySlug(app, key, 'tee-e')).name, 'Tee E\r\nin two lines')
  assert.equal(await bySlug(app, key, 'tee-b'), undefined)
})
