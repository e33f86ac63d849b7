import assert from 'node:assert/strict'
import { test } from 'node:test'
import Fastify from 'fastify'
import { etagOf } from '../../src/lib/etag.js'
import { Ok } from '../../src/lib/schemas.js'
import { findProductById } from '../../src/modules/products/repository.js'
import { ProductSchema } from '../../src/modules/products/schemas.js'
import { withVariants } from '../../src/modules/products/service.js'
import { apiKey, bearer, build, defer, seed, type TestApp } from '../helper.js'

const PRODUCTS = '/api/v1/products'

/**
 * The answer a product read gave before documents: the product's rows mapped in the application and written by
 * the response schema's serializer. Reads now send product_documents.doc; both must be the same bytes.
 */
async function serializerTruth(t: Parameters<typeof build>[0], app: TestApp) {
  const truth = Fastify()
  truth.get('/:id', { schema: { response: { 200: Ok(ProductSchema) } } }, async (request) => {
    const id = Number((request.params as { id: string }).id)
    const row = await findProductById(app.db.primary, id)
    assert.ok(row, `product ${id} exists`)
    return { success: true, data: (await withVariants(app.db.primary, [row]))[0] }
  })
  await truth.ready()
  defer(t, () => truth.close())
  return async (id: number) => (await truth.inject({ method: 'GET', url: `/${id}` })).body
}

const AWKWARD = 'Quote " backslash \\ tab \t newline \n bell \u0007 ✓ emoji 🎉 separator \u2028 slash / dollar $1'

test('when a product is written in every way the API allows, then its reads send exactly the bytes the serializer wrote', async (t) => {
  const app = await build(t, { CACHE_ENABLED: 'false' })
  const editor = bearer(await apiKey(app, 'editor'))
  const admin = bearer(await apiKey(app, 'admin'))
  const truthOf = await serializerTruth(t, app)

  const assertReads = async (id: number, step: string) => {
    const expected = await truthOf(id)
    const byId = await app.inject({ method: 'GET', url: `${PRODUCTS}/${id}`, headers: editor })
    assert.equal(byId.statusCode, 200, `${step}: ${byId.body}`)
    assert.equal(byId.body, expected, `${step}: GET by id`)
    const slug = (JSON.parse(expected) as { data: { slug: string } }).data.slug
    const bySlug = await app.inject({ method: 'GET', url: `${PRODUCTS}/by-slug/${slug}`, headers: editor })
    assert.equal(bySlug.body, expected, `${step}: GET by slug`)
    const list = await app.inject({ method: 'GET', url: `${PRODUCTS}?limit=100`, headers: editor })
    const item = `{"success":true,"data":${JSON.stringify((list.json().data as { id: number }[]).find((p) => p.id === id))}}`
    assert.equal(item, expected, `${step}: the list's item`)
    assert.ok(list.body.includes(expected.slice('{"success":true,"data":'.length, -1)), `${step}: list bytes`)
  }

  const created = await app.inject({
    method: 'POST',
    url: PRODUCTS,
    headers: editor,
    payload: {
      name: `Tee ${AWKWARD.slice(0, 60)}`,
      description: AWKWARD,
      status: 'draft',
      tags: ['cotton', 'summer-sale'],
      options: [
        { name: 'Size "EU"', values: ['S', 'M \\ L'] },
        { name: 'Colour', values: ['Black', 'Weiß'] }
      ],
      variants: [
        {
          sku: 'DOC-S-BLACK',
          optionValues: ['S', 'Black'],
          prices: [
            { currency: 'EUR', amountCents: 1899 },
            { currency: 'USD', amountCents: 1999 }
          ],
          compareAtPrices: [{ currency: 'USD', amountCents: 2999 }],
          stock: 3,
          barcode: '4006381333931',
          weightGrams: 180
        },
        {
          sku: 'DOC-L-WEISS',
          title: `Large ${AWKWARD.slice(0, 20)}`,
          optionValues: ['M \\ L', 'Weiß'],
          prices: [
            { currency: 'JPY', amountCents: 2500 },
            { currency: 'USD', amountCents: 2199 }
          ]
        }
      ],
      media: [
        { url: 'https://cdn.example.com/a.jpg?x="1"', alt: AWKWARD.slice(0, 30), width: 1200, height: 1600 },
        { url: 'https://cdn.example.com/b.jpg' }
      ]
    }
  })
  assert.equal(created.statusCode, 201, created.body)
  const product = created.json().data as { id: number; version: number; variants: { id: number; version: number }[] }
  assert.equal(created.body, await truthOf(product.id), 'the create answer is the serializer’s')
  await assertReads(product.id, 'created')

  /** The ETag a write's If-Match names: the product's, or the variant's when the URL names one. */
  const etag = async (url: string) => {
    const current = (await app.inject({ method: 'GET', url: `${PRODUCTS}/${product.id}`, headers: editor })).json()
      .data as { id: number; version: number; variants: { id: number; version: number }[] }
    const variantId = /\/variants\/(\d+)/.exec(url)?.[1]
    const entity = variantId ? current.variants.find((v) => v.id === Number(variantId)) : current
    assert.ok(entity)
    return etagOf(entity.id, entity.version)
  }
  const steps: { step: string; method: 'POST' | 'PATCH' | 'PUT' | 'DELETE'; url: string; payload?: object }[] = [
    {
      step: 'variant added',
      method: 'POST',
      url: `${PRODUCTS}/${product.id}/variants`,
      payload: { sku: 'DOC-S-WEISS', optionValues: ['S', 'Weiß'], prices: [{ currency: 'GBP', amountCents: 1 }] }
    },
    {
      step: 'variant changed',
      method: 'PATCH',
      url: `${PRODUCTS}/${product.id}/variants/${product.variants[0]?.id}`,
      payload: { prices: [{ currency: 'USD', amountCents: 999 }], compareAtPrices: null, barcode: null, stock: 7 }
    },
    {
      step: 'stock adjusted',
      method: 'POST',
      url: `${PRODUCTS}/${product.id}/variants/${product.variants[1]?.id}/stock-adjustments`,
      payload: { delta: 5, reason: 'restock' }
    },
    {
      step: 'media replaced',
      method: 'PUT',
      url: `${PRODUCTS}/${product.id}/media`,
      payload: {
        media: [
          { url: 'https://cdn.example.com/c.jpg', alt: 'C', variantIds: [product.variants[1]?.id] },
          { url: 'https://cdn.example.com/d.jpg', height: 10 }
        ]
      }
    },
    {
      step: 'product changed',
      method: 'PATCH',
      url: `${PRODUCTS}/${product.id}`,
      payload: { name: 'Renamed ✓', status: 'active', tags: [], categoryId: null }
    },
    { step: 'variant deleted', method: 'DELETE', url: `${PRODUCTS}/${product.id}/variants/${product.variants[0]?.id}` }
  ]
  for (const { step, method, url, payload } of steps) {
    const headers: Record<string, string> = { ...(method === 'DELETE' ? admin : editor) }
    if (method === 'PATCH' || method === 'DELETE' || method === 'PUT') {
      headers['if-match'] = await etag(
        url.includes('/variants/') || method === 'PUT' ? url.replace(/\/media$/, '') : url
      )
    }
    const res = await app.inject({ method, url, headers, ...(payload ? { payload } : {}) })
    assert.ok(res.statusCode < 300, `${step}: ${res.statusCode} ${res.body}`)
    await assertReads(product.id, step)
  }
})

test('when products are written by SQL (the demo seed, a product without variants yet), then their documents match too', async (t) => {
  const app = await build(t, { CACHE_ENABLED: 'false' })
  const editor = bearer(await apiKey(app, 'editor'))
  const truthOf = await serializerTruth(t, app)
  await seed(app, 30)
  const { rows: all } = await app.db.primary.query<{ id: number; doc: string }>(
    'SELECT p.id, d.doc FROM products p JOIN product_documents d ON d.product_id = p.id ORDER BY p.id'
  )
  assert.equal(all.length, 30, 'every seeded product has its document')
  for (const { id, doc } of all) {
    assert.equal(`{"success":true,"data":${doc}}`, await truthOf(id), `stored document of ${id}`)
  }

  // A product inserted without variants has no document until its first variant; its reads build it.
  const { rows } = await app.db.primary.query<{ id: number }>(
    "INSERT INTO products (name, slug, status) VALUES ('Bare', 'bare', 'active') RETURNING id"
  )
  const bare = rows[0]?.id as number
  const stored = () => app.db.primary.query('SELECT 1 FROM product_documents WHERE product_id = $1', [bare])
  assert.equal((await stored()).rowCount, 0)
  await app.db.primary.query(
    "INSERT INTO product_variants (product_id, sku, title, prices) VALUES ($1, 'BARE-1', 'Default', '[]')",
    [bare]
  )
  assert.equal((await stored()).rowCount, 1)
  await app.db.primary.query('DELETE FROM product_documents WHERE product_id = $1', [bare])
  const res = await app.inject({ method: 'GET', url: `${PRODUCTS}/${bare}`, headers: editor })
  assert.equal(res.body, await truthOf(bare), 'a missing document is built for the read')

  // A variant changed by SQL alone (no version bump of its product): the stale document is dropped, reads build it,
  // and the product's next write stores it again.
  const first = all[0]?.id as number
  await app.db.primary.query('UPDATE product_variants SET stock = stock + 1 WHERE product_id = $1', [first])
  const kept = () => app.db.primary.query('SELECT 1 FROM product_documents WHERE product_id = $1', [first])
  assert.equal((await kept()).rowCount, 0, 'a variant change drops its product’s document')
  const afterVariant = await app.inject({ method: 'GET', url: `${PRODUCTS}/${first}`, headers: editor })
  assert.equal(afterVariant.body, await truthOf(first))
  await app.db.primary.query('UPDATE products SET version = version + 1 WHERE id = $1', [first])
  assert.equal((await kept()).rowCount, 1, 'the product’s write stores it again')
  const afterProduct = await app.inject({ method: 'GET', url: `${PRODUCTS}/${first}`, headers: editor })
  assert.equal(afterProduct.body, await truthOf(first))

  await app.db.primary.query('DELETE FROM products WHERE id = (SELECT min(id) FROM products)')
  const { rows: orphans } = await app.db.primary.query(
    'SELECT 1 FROM product_documents d WHERE NOT EXISTS (SELECT 1 FROM products p WHERE p.id = d.product_id)'
  )
  assert.equal(orphans.length, 0, 'a deleted product’s document goes with it')
})
