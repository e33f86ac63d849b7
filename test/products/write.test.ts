import assert from 'node:assert/strict'
import { type TestContext, test } from 'node:test'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { createApiKey, revokeApiKey } from '../../src/modules/api-keys/service.js'
import { apiKey, bearer, build, count, assertProblem } from '../helper.js'

// ---------------------------------------------------------------------------------------------
// Local helpers
// ---------------------------------------------------------------------------------------------

const PRODUCTS = '/api/v1/products'
const UNKNOWN_ID = 2_000_000_000
const UNKNOWN_CATEGORY = 1_999_999_999

let serial = 0
/** A valid create body with a fresh sku; `over` replaces or adds fields. */
const validProduct = (over: Record<string, unknown> = {}) => {
  serial += 1
  return { sku: `SKU-${serial}`, name: `Product ${serial}`, priceCents: 1999, currency: 'USD', ...over }
}

/** A 400 VALIDATION_FAILED whose errors name exactly `fields`. */
function assertValidation(res: LightMyRequestResponse, ...fields: string[]) {
  const body = assertProblem(res, 400, 'VALIDATION_FAILED')
  assert.ok(Array.isArray(body.errors), 'errors is an array')
  for (const e of body.errors) {
    assert.equal(typeof e.field, 'string')
    assert.equal(typeof e.message, 'string')
    assert.ok(e.message.length > 0)
  }
  const named = (body.errors as { field: string }[]).map((e) => e.field).sort()
  assert.deepEqual(named, [...fields].sort(), `errors name ${JSON.stringify(named)}`)
  return body
}

/** The stored row, read straight from the primary: the proof that a rejected write changed nothing. */
async function productRow(app: FastifyInstance, id: number): Promise<Record<string, unknown> | undefined> {
  const { rows } = await app.db.primary.query(
    `SELECT p.*, v.sku, (v.prices->0->>'amountCents')::int AS price_cents, v.prices->0->>'currency' AS currency, v.stock
       FROM products p
       LEFT JOIN LATERAL (SELECT * FROM product_variants WHERE product_id = p.id ORDER BY position LIMIT 1) v ON true
      WHERE p.id = $1`,
    [id]
  )
  return rows[0]
}

async function insertCategory(app: FastifyInstance, slug: string): Promise<number> {
  const { rows } = await app.db.primary.query<{ id: number }>(
    'INSERT INTO categories (name, slug) VALUES ($1, $1) RETURNING id',
    [slug]
  )
  return (rows[0] as { id: number }).id
}

interface ApiProduct {
  id: number
  slug: string
  version: number
  variants: {
    id: number
    sku: string
    version: number
    stock: number
    prices: { currency: string; amountCents: number }[]
  }[]
  [k: string]: unknown
}

/** A product of one variant, with that variant's sku, price, currency and stock alongside (as created flat). */
const flat = (p: ApiProduct): ApiProduct => {
  const v = p.variants[0]
  return { ...p, sku: v?.sku, priceCents: v?.prices[0]?.amountCents, currency: v?.prices[0]?.currency, stock: v?.stock }
}

/** Creates a product through the API and returns it. */
async function createProduct(app: FastifyInstance, key: string, over: Record<string, unknown> = {}) {
  const res = await app.inject({ method: 'POST', url: PRODUCTS, headers: bearer(key), payload: validProduct(over) })
  assert.equal(res.statusCode, 201, res.body)
  return flat(res.json().data as ApiProduct)
}

/** A key that worked once and was then revoked through the api-keys service. */
async function revokedKey(app: FastifyInstance, role: 'editor' | 'admin'): Promise<string> {
  const created = await createApiKey(app.db.primary, { name: `revoked-${role}`, role })
  await revokeApiKey(app.db.primary, created.id)
  return created.key
}

type Write = { method: 'POST' | 'PATCH' | 'DELETE'; url: string; payload?: Record<string, unknown> }

/** The 401 cases every write path must answer the same way. */
async function assertUnauthorizedCases(
  t: TestContext,
  app: FastifyInstance,
  write: Write,
  role: 'editor' | 'admin',
  unchanged: () => Promise<void>
) {
  const cases: [string, () => Promise<Record<string, string>>, RegExp][] = [
    ['no Authorization header', async () => ({}), /^Bearer realm="[^"]+"$/],
    ['an unknown key', async () => bearer('ck_this-key-was-never-issued'), /^Bearer .*error="invalid_token"/],
    ['a revoked key', async () => bearer(await revokedKey(app, role)), /^Bearer .*error="invalid_token"/],
    ['a non-Bearer scheme', async () => ({ authorization: 'Basic dXNlcjpwYXNz' }), /^Bearer /]
  ]
  for (const [what, headers, challenge] of cases) {
    await t.test(
      `when ${write.method} is sent with ${what}, then 401 with a Bearer challenge and nothing is written`,
      async () => {
        const res = await app.inject({ ...write, headers: await headers() })
        assertProblem(res, 401, 'UNAUTHORIZED')
        const header = res.headers['www-authenticate']
        assert.equal(typeof header, 'string', 'www-authenticate is set')
        assert.match(header as string, /^Bearer/)
        assert.match(header as string, challenge)
        await unchanged()
      }
    )
  }
}

// Bodies that break one rule of the create schema, and the one field the 400 must name.
const createRuleBreakers: [string, Record<string, unknown>, string][] = [
  ['sku is missing', { sku: undefined }, 'sku'],
  ['name is missing', { name: undefined }, 'name'],
  ['priceCents is missing', { priceCents: undefined }, 'priceCents'],
  ['currency is missing', { currency: undefined }, 'currency'],
  ['an unknown field colour is sent', { colour: 'red' }, 'colour'],
  ['the server-owned field id is sent', { id: 123 }, 'id'],
  ['the server-owned field version is sent', { version: 7 }, 'version'],
  ['priceCents is the string "12"', { priceCents: '12' }, 'priceCents'],
  ['priceCents is a fraction', { priceCents: 19.99 }, 'priceCents'],
  ['priceCents is negative', { priceCents: -1 }, 'priceCents'],
  ['priceCents overflows a 32-bit integer', { priceCents: 2_147_483_648 }, 'priceCents'],
  ['priceCents is null', { priceCents: null }, 'priceCents'],
  ['stock is negative', { stock: -1 }, 'stock'],
  ['stock is the string "5"', { stock: '5' }, 'stock'],
  ['name is a number', { name: 123 }, 'name'],
  ['name is empty', { name: '' }, 'name'],
  ['name is longer than 200 characters', { name: 'n'.repeat(201) }, 'name'],
  ['name contains a NUL character', { name: 'Lamp\u0000Shade' }, 'name'],
  ['name contains an unpaired surrogate', { name: 'a\ud800b' }, 'name'],
  ['description contains a NUL character', { description: 'bad\u0000text' }, 'description'],
  ['currency is lower case "usd"', { currency: 'usd' }, 'currency'],
  ['currency is the non-ISO code "XXY"', { currency: 'XXY' }, 'currency'],
  ['currency has two letters', { currency: 'US' }, 'currency'],
  ['sku contains spaces', { sku: 'HAS SPACE' }, 'sku'],
  ['sku is empty', { sku: '' }, 'sku'],
  ['sku is longer than 64 characters', { sku: 'S'.repeat(65) }, 'sku'],
  ['sku contains a NUL character', { sku: 'A\u0000B' }, 'sku'],
  ['slug is not lower-case-dashed', { slug: 'Not A Slug' }, 'slug'],
  ['status is not one of draft, active, archived', { status: 'deleted' }, 'status'],
  ['categoryId is 0', { categoryId: 0 }, 'categoryId'],
  ['categoryId is the string "1"', { categoryId: '1' }, 'categoryId']
]

// The same rules for PATCH (required fields do not apply), plus the empty patch.
const patchRuleBreakers: [string, Record<string, unknown>, string][] = [
  ['the body is empty {}', {}, 'body'],
  ...createRuleBreakers
    .filter(([what]) => !what.endsWith('is missing'))
    .map(([what, body, field]): [string, Record<string, unknown>, string] => [what, body, field])
]

// ---------------------------------------------------------------------------------------------
// POST /api/v1/products
// ---------------------------------------------------------------------------------------------

test('when an editor creates a product with only the required fields, then 201 with Location, ETag and defaults', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const res = await app.inject({
    method: 'POST',
    url: PRODUCTS,
    headers: bearer(key),
    payload: { sku: 'LAMP-1', name: 'Desk Lamp', priceCents: 4999, currency: 'USD' }
  })
  assert.equal(res.statusCode, 201, res.body)
  assert.match(String(res.headers['content-type']), /^application\/json/)
  const body = res.json()
  assert.equal(body.success, true)
  const p = flat(body.data)
  assert.equal(typeof p.id, 'number')
  assert.equal(res.headers.location, `/api/v1/products/${p.id}`)
  assert.equal(res.headers.etag, `"${p.id}.1"`)
  assert.deepEqual(
    {
      sku: p.sku,
      name: p.name,
      slug: p.slug,
      description: p.description,
      priceCents: p.priceCents,
      currency: p.currency
    },
    { sku: 'LAMP-1', name: 'Desk Lamp', slug: 'desk-lamp-lamp-1', description: '', priceCents: 4999, currency: 'USD' }
  )
  assert.deepEqual(
    { categoryId: p.categoryId, stock: p.stock, status: p.status, version: p.version },
    {
      categoryId: null,
      stock: 0,
      status: 'draft',
      version: 1
    }
  )
  assert.ok(!Number.isNaN(Date.parse(p.createdAt as string)))
  assert.equal(p.createdAt, p.updatedAt)
  assert.equal(await count(app, 'products'), 1)

  // The Location serves the same product (a draft: to a key that may see drafts).
  const got = await app.inject({ method: 'GET', url: res.headers.location, headers: bearer(key) })
  assert.equal(got.statusCode, 200)
  assert.deepEqual(got.json().data, body.data)
  assertProblem(await app.inject({ method: 'GET', url: res.headers.location }), 404, 'PRODUCT_NOT_FOUND')
})

test('when an admin creates a product with every field, then each field is stored as sent', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'admin')
  const categoryId = await insertCategory(app, 'lighting')
  const sent = {
    sku: 'LAMP_2.b-x',
    name: 'Floor Lamp',
    slug: 'floor-lamp',
    description: 'Tall and bright',
    priceCents: 0,
    currency: 'EUR',
    categoryId,
    stock: 2_147_483_647,
    status: 'active'
  }
  const res = await app.inject({ method: 'POST', url: PRODUCTS, headers: bearer(key), payload: sent })
  assert.equal(res.statusCode, 201, res.body)
  const p = flat(res.json().data)
  for (const [field, value] of Object.entries(sent)) assert.equal(p[field], value, field)
  const row = await productRow(app, p.id)
  assert.ok(row)
  assert.deepEqual(
    [
      row.sku,
      row.name,
      row.slug,
      row.description,
      row.price_cents,
      row.currency,
      row.category_id,
      row.stock,
      row.status,
      row.version
    ],
    ['LAMP_2.b-x', 'Floor Lamp', 'floor-lamp', 'Tall and bright', 0, 'EUR', categoryId, 2_147_483_647, 'active', 1]
  )
})

test('when a product is created with a rule-breaking body, then 400 VALIDATION_FAILED names the field and nothing is written', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  await createProduct(app, key) // one product already there, so "unchanged" is not just "empty"
  for (const [what, over, field] of createRuleBreakers) {
    await t.test(`when a product is created and ${what}, then 400 naming ${field}`, async () => {
      const res = await app.inject({ method: 'POST', url: PRODUCTS, headers: bearer(key), payload: validProduct(over) })
      assertValidation(res, field)
      assert.equal(await count(app, 'products'), 1)
    })
  }
})

test('when a product is created with several broken fields, then one 400 names every one of them', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const res = await app.inject({
    method: 'POST',
    url: PRODUCTS,
    headers: bearer(key),
    payload: { sku: 'bad sku', priceCents: -5, colour: 'red' }
  })
  // currency (required with priceCents) is checked once the body fits the schema.
  assertValidation(res, 'sku', 'priceCents', 'colour', 'name')
  assert.equal(await count(app, 'products'), 0)
})

test('when the create body is not a JSON object, then 400 VALIDATION_FAILED naming the body', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  for (const raw of ['[]', '"text"', '42', 'null']) {
    await t.test(`when the body is ${raw}, then 400 naming body`, async () => {
      const res = await app.inject({
        method: 'POST',
        url: PRODUCTS,
        headers: { ...bearer(key), 'content-type': 'application/json' },
        payload: raw
      })
      assertValidation(res, 'body')
      assert.equal(await count(app, 'products'), 0)
    })
  }
})

test('when a product is created with malformed JSON, then 400 MALFORMED_JSON problem+json and nothing is written', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  for (const raw of ['{"sku": "A", "name": ', '{sku: "A"}', '']) {
    await t.test(`when the body is ${JSON.stringify(raw)}, then 400 MALFORMED_JSON`, async () => {
      const res = await app.inject({
        method: 'POST',
        url: PRODUCTS,
        headers: { ...bearer(key), 'content-type': 'application/json' },
        payload: raw
      })
      assertProblem(res, 400, 'MALFORMED_JSON')
      assert.equal(await count(app, 'products'), 0)
    })
  }
})

test('when a product is created with a text/plain body, then 415 UNSUPPORTED_MEDIA_TYPE and nothing is written', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  for (const type of ['text/plain', 'application/xml']) {
    await t.test(`when the content-type is ${type}, then 415`, async () => {
      const res = await app.inject({
        method: 'POST',
        url: PRODUCTS,
        headers: { ...bearer(key), 'content-type': type },
        payload: JSON.stringify(validProduct())
      })
      assertProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE')
      assert.equal(await count(app, 'products'), 0)
    })
  }
})

test('when a product is created with a body over BODY_LIMIT_BYTES, then 413 PAYLOAD_TOO_LARGE and nothing is written', async (t) => {
  const app = await build(t, { BODY_LIMIT_BYTES: '2048' })
  const key = await apiKey(app, 'editor')
  // Schema-valid (description ≤ 5000) but over the 2048-byte limit.
  const big = await app.inject({
    method: 'POST',
    url: PRODUCTS,
    headers: bearer(key),
    payload: validProduct({ description: 'd'.repeat(3000) })
  })
  assertProblem(big, 413, 'PAYLOAD_TOO_LARGE')
  assert.equal(await count(app, 'products'), 0)
  // The limit is the boundary, not a blanket refusal: a body under it is accepted.
  const small = await app.inject({
    method: 'POST',
    url: PRODUCTS,
    headers: bearer(key),
    payload: validProduct({ description: 'd'.repeat(1500) })
  })
  assert.equal(small.statusCode, 201, small.body)
  assert.equal(await count(app, 'products'), 1)
})

test('when a product is created without a valid API key, then 401 and nothing is written', async (t) => {
  const app = await build(t)
  const write = { method: 'POST' as const, url: PRODUCTS, payload: validProduct() }
  await assertUnauthorizedCases(t, app, write, 'editor', async () => assert.equal(await count(app, 'products'), 0))
})

test('when an editor key is revoked after use, then its next create is 401 at once and nothing is written', async (t) => {
  const app = await build(t)
  const created = await createApiKey(app.db.primary, { name: 'soon-revoked', role: 'editor' })
  await createProduct(app, created.key)
  await app.db.primary.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [created.id])
  const res = await app.inject({ method: 'POST', url: PRODUCTS, headers: bearer(created.key), payload: validProduct() })
  assertProblem(res, 401, 'UNAUTHORIZED')
  assert.match(String(res.headers['www-authenticate']), /^Bearer/)
  assert.equal(await count(app, 'products'), 1)
})

test('when a product is created with a taken SKU, then 409 SKU_TAKEN and nothing is written', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  await createProduct(app, key, { sku: 'TAKEN-1', slug: 'first' })
  const res = await app.inject({
    method: 'POST',
    url: PRODUCTS,
    headers: bearer(key),
    payload: validProduct({ sku: 'TAKEN-1', slug: 'second' })
  })
  assertProblem(res, 409, 'SKU_TAKEN')
  assert.equal(await count(app, 'products'), 1)
})

test('when two creates race for one SKU, then exactly one gets 201 and the other 409 SKU_TAKEN, each round', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  for (let round = 1; round <= 5; round++) {
    const sku = `RACE-${round}`
    const [a, b] = await Promise.all(
      ['a', 'b'].map((s) =>
        app.inject({
          method: 'POST',
          url: PRODUCTS,
          headers: bearer(key),
          payload: validProduct({ sku, slug: `race-${round}-${s}` })
        })
      )
    )
    assert.ok(a && b)
    assert.deepEqual([a.statusCode, b.statusCode].sort(), [201, 409], `round ${round}: ${a.body} / ${b.body}`)
    assertProblem(a.statusCode === 409 ? a : b, 409, 'SKU_TAKEN')
    assert.equal(await count(app, 'products'), round)
  }
})

test('when a product is created with a taken slug, then 409 SLUG_TAKEN and nothing is written', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  await createProduct(app, key, { sku: 'ONE', slug: 'shared-slug' })
  const res = await app.inject({
    method: 'POST',
    url: PRODUCTS,
    headers: bearer(key),
    payload: validProduct({ sku: 'TWO', slug: 'shared-slug' })
  })
  assertProblem(res, 409, 'SLUG_TAKEN')
  assert.equal(await count(app, 'products'), 1)
})

test('when a product is created with a categoryId that does not exist, then 422 UNKNOWN_CATEGORY naming categoryId and nothing is written', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const res = await app.inject({
    method: 'POST',
    url: PRODUCTS,
    headers: bearer(key),
    payload: validProduct({ categoryId: UNKNOWN_CATEGORY })
  })
  const body = assertProblem(res, 422, 'UNKNOWN_CATEGORY')
  assert.deepEqual(
    body.errors?.map((e: { field: string }) => e.field),
    ['categoryId']
  )
  assert.equal(await count(app, 'products'), 0)
})

// ---------------------------------------------------------------------------------------------
// PATCH /api/v1/products/:id
// ---------------------------------------------------------------------------------------------

test('when an editor patches a product, then 200 with the changed fields, version+1 and a new ETag', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const before = await createProduct(app, key, { sku: 'MUG-1', name: 'Mug', description: 'Blue', stock: 3 })
  await new Promise((resolve) => setTimeout(resolve, 5)) // so updatedAt can move
  const res = await app.inject({
    method: 'PATCH',
    url: `${PRODUCTS}/${before.id}`,
    headers: bearer(key),
    payload: { name: 'Big Mug', tags: ['mugs'] }
  })
  assert.equal(res.statusCode, 200, res.body)
  const body = res.json()
  assert.equal(body.success, true)
  const after = flat(body.data)
  assert.equal(after.version, before.version + 1)
  assert.equal(res.headers.etag, `"${before.id}.${before.version + 1}"`)
  assert.equal(after.name, 'Big Mug')
  assert.deepEqual(after.tags, ['mugs'])
  // Fields not in the patch are kept.
  for (const field of [
    'id',
    'sku',
    'slug',
    'description',
    'priceCents',
    'currency',
    'categoryId',
    'stock',
    'status',
    'createdAt'
  ]) {
    assert.deepEqual(after[field], before[field], field)
  }
  assert.ok(Date.parse(after.updatedAt as string) > Date.parse(before.updatedAt as string), 'updatedAt moved forward')
  const row = await productRow(app, before.id)
  assert.ok(row)
  assert.deepEqual([row.name, row.tags, row.version], ['Big Mug', ['mugs'], before.version + 1])
  assert.equal(await count(app, 'products'), 1)
})

test('when an admin patches the category and status of a product, then they are stored; categoryId null clears it', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'admin')
  const categoryId = await insertCategory(app, 'kitchen')
  const p = await createProduct(app, key)
  const set = await app.inject({
    method: 'PATCH',
    url: `${PRODUCTS}/${p.id}`,
    headers: bearer(key),
    payload: { categoryId, status: 'archived' }
  })
  assert.equal(set.statusCode, 200, set.body)
  assert.deepEqual([set.json().data.categoryId, set.json().data.status], [categoryId, 'archived'])
  const cleared = await app.inject({
    method: 'PATCH',
    url: `${PRODUCTS}/${p.id}`,
    headers: bearer(key),
    payload: { categoryId: null }
  })
  assert.equal(cleared.statusCode, 200, cleared.body)
  assert.equal(cleared.json().data.categoryId, null)
  assert.equal(cleared.json().data.version, 3)
  const row = await productRow(app, p.id)
  assert.ok(row)
  assert.deepEqual([row.category_id, row.status, row.version], [null, 'archived', 3])
})

test('when a product is patched to its own current slug and its variant to its own sku, then 200, not a conflict with itself', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const p = await createProduct(app, key)
  const res = await app.inject({
    method: 'PATCH',
    url: `${PRODUCTS}/${p.id}`,
    headers: bearer(key),
    payload: { slug: p.slug }
  })
  assert.equal(res.statusCode, 200, res.body)
  assert.equal(res.json().data.version, 2)
  const variant = p.variants[0] as ApiProduct['variants'][number]
  const own = await app.inject({
    method: 'PATCH',
    url: `${PRODUCTS}/${p.id}/variants/${variant.id}`,
    headers: bearer(key),
    payload: { sku: variant.sku }
  })
  assert.equal(own.statusCode, 200, own.body)
  assert.equal(own.json().data.version, 2)
})

test('when a product is patched with a rule-breaking body, then 400 VALIDATION_FAILED names the field and the row is unchanged', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const p = await createProduct(app, key)
  const before = await productRow(app, p.id)
  for (const [what, body, field] of patchRuleBreakers) {
    await t.test(`when a product is patched and ${what}, then 400 naming ${field}`, async () => {
      // A patch carries only the fields it changes; "missing" entries (undefined) are dropped by JSON.
      const res = await app.inject({ method: 'PATCH', url: `${PRODUCTS}/${p.id}`, headers: bearer(key), payload: body })
      assertValidation(res, field)
      assert.deepEqual(await productRow(app, p.id), before)
    })
  }
})

test('when the id in the URL is not a positive 32-bit integer, then PATCH and DELETE answer 400 naming id and nothing changes', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  const p = await createProduct(app, admin)
  const before = await productRow(app, p.id)
  for (const id of ['abc', '1.5', '0', '-1', '2147483648', `${p.id}x`]) {
    for (const method of ['PATCH', 'DELETE'] as const) {
      await t.test(`when ${method} /products/${id} is sent, then 400 naming id`, async () => {
        const res = await app.inject({
          method,
          url: `${PRODUCTS}/${id}`,
          headers: bearer(admin),
          ...(method === 'PATCH' ? { payload: { name: 'Renamed' } } : {})
        })
        assertValidation(res, 'id')
        assert.deepEqual(await productRow(app, p.id), before)
        assert.equal(await count(app, 'products'), 1)
      })
    }
  }
})

test('when a product is patched with malformed JSON, the wrong content-type or an oversized body, then 400/415/413 and the row is unchanged', async (t) => {
  const app = await build(t, { BODY_LIMIT_BYTES: '2048' })
  const key = await apiKey(app, 'editor')
  const p = await createProduct(app, key)
  const before = await productRow(app, p.id)
  const url = `${PRODUCTS}/${p.id}`
  const cases: [string, Record<string, string>, string, number, string][] = [
    ['malformed JSON', { 'content-type': 'application/json' }, '{"name": "x",', 400, 'MALFORMED_JSON'],
    ['an empty JSON body', { 'content-type': 'application/json' }, '', 400, 'MALFORMED_JSON'],
    ['a text/plain body', { 'content-type': 'text/plain' }, '{"name":"Renamed"}', 415, 'UNSUPPORTED_MEDIA_TYPE'],
    [
      'a body over the limit',
      { 'content-type': 'application/json' },
      JSON.stringify({ description: 'd'.repeat(3000) }),
      413,
      'PAYLOAD_TOO_LARGE'
    ]
  ]
  for (const [what, headers, payload, status, code] of cases) {
    await t.test(`when a product is patched with ${what}, then ${status} ${code}`, async () => {
      const res = await app.inject({ method: 'PATCH', url, headers: { ...bearer(key), ...headers }, payload })
      assertProblem(res, status, code)
      assert.deepEqual(await productRow(app, p.id), before)
    })
  }
})

test('when a product is patched without a valid API key, then 401 and the row is unchanged', async (t) => {
  const app = await build(t)
  const p = await createProduct(app, await apiKey(app, 'admin'))
  const before = await productRow(app, p.id)
  const write = { method: 'PATCH' as const, url: `${PRODUCTS}/${p.id}`, payload: { name: 'Hijacked' } }
  await assertUnauthorizedCases(t, app, write, 'editor', async () =>
    assert.deepEqual(await productRow(app, p.id), before)
  )
})

test('when an unknown product id is patched, then 404 PRODUCT_NOT_FOUND and nothing is written', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const p = await createProduct(app, key)
  const before = await productRow(app, p.id)
  const res = await app.inject({
    method: 'PATCH',
    url: `${PRODUCTS}/${UNKNOWN_ID}`,
    headers: bearer(key),
    payload: { name: 'Ghost' }
  })
  assertProblem(res, 404, 'PRODUCT_NOT_FOUND')
  assert.equal(await count(app, 'products'), 1)
  assert.deepEqual(await productRow(app, p.id), before)
})

test("when a variant is patched to another product's SKU, then 409 SKU_TAKEN naming it and the row is unchanged", async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const other = await createProduct(app, key, { sku: 'OTHER-1' })
  const p = await createProduct(app, key, { sku: 'MINE-1' })
  const before = await productRow(app, p.id)
  const res = await app.inject({
    method: 'PATCH',
    url: `${PRODUCTS}/${p.id}/variants/${p.variants[0]?.id}`,
    headers: bearer(key),
    payload: { sku: other.sku, stock: 5 }
  })
  assert.match(assertProblem(res, 409, 'SKU_TAKEN').detail, /OTHER-1/)
  assert.deepEqual(await productRow(app, p.id), before)
  assert.equal(await count(app, 'products'), 2)
})

test("when a product is patched to another product's slug, then 409 SLUG_TAKEN and the row is unchanged", async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const other = await createProduct(app, key, { slug: 'other-slug' })
  const p = await createProduct(app, key, { slug: 'mine' })
  const before = await productRow(app, p.id)
  const res = await app.inject({
    method: 'PATCH',
    url: `${PRODUCTS}/${p.id}`,
    headers: bearer(key),
    payload: { slug: other.slug }
  })
  assertProblem(res, 409, 'SLUG_TAKEN')
  assert.deepEqual(await productRow(app, p.id), before)
})

test('when a product is patched with a stale If-Match, then 412 PRECONDITION_FAILED and the row is unchanged', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const p = await createProduct(app, key)
  const first = await app.inject({
    method: 'PATCH',
    url: `${PRODUCTS}/${p.id}`,
    headers: bearer(key),
    payload: { description: 'Version 2' }
  })
  assert.equal(first.statusCode, 200, first.body)
  const before = await productRow(app, p.id)
  const res = await app.inject({
    method: 'PATCH',
    url: `${PRODUCTS}/${p.id}`,
    headers: { ...bearer(key), 'if-match': `"${p.id}.1"` },
    payload: { description: 'Stale' }
  })
  assertProblem(res, 412, 'PRECONDITION_FAILED')
  assert.deepEqual(await productRow(app, p.id), before)
})

test('when a product is patched with a categoryId that does not exist, then 422 UNKNOWN_CATEGORY and the row is unchanged', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const categoryId = await insertCategory(app, 'garden')
  const p = await createProduct(app, key, { categoryId })
  const before = await productRow(app, p.id)
  const res = await app.inject({
    method: 'PATCH',
    url: `${PRODUCTS}/${p.id}`,
    headers: bearer(key),
    payload: { categoryId: UNKNOWN_CATEGORY, name: 'Moved' }
  })
  const body = assertProblem(res, 422, 'UNKNOWN_CATEGORY')
  assert.deepEqual(
    body.errors?.map((e: { field: string }) => e.field),
    ['categoryId']
  )
  assert.deepEqual(await productRow(app, p.id), before)
})

// ---------------------------------------------------------------------------------------------
// DELETE /api/v1/products/:id
// ---------------------------------------------------------------------------------------------

test('when an admin deletes a product, then 204 with no body and the product is gone', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'admin')
  const p = await createProduct(app, key)
  const keep = await createProduct(app, key)
  const res = await app.inject({ method: 'DELETE', url: `${PRODUCTS}/${p.id}`, headers: bearer(key) })
  assert.equal(res.statusCode, 204, res.body)
  assert.equal(res.body, '')
  assert.equal(await productRow(app, p.id), undefined)
  assert.ok(await productRow(app, keep.id), 'only the named product is deleted')
  assert.equal(await count(app, 'products'), 1)
  const got = await app.inject({ method: 'GET', url: `${PRODUCTS}/${p.id}` })
  assertProblem(got, 404, 'PRODUCT_NOT_FOUND')
  // Deleting again: the product no longer exists.
  const again = await app.inject({ method: 'DELETE', url: `${PRODUCTS}/${p.id}`, headers: bearer(key) })
  assertProblem(again, 404, 'PRODUCT_NOT_FOUND')
  assert.equal(await count(app, 'products'), 1)
})

test('when an editor deletes a product, then 403 FORBIDDEN and the row is unchanged', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  const p = await createProduct(app, editor)
  const before = await productRow(app, p.id)
  const res = await app.inject({ method: 'DELETE', url: `${PRODUCTS}/${p.id}`, headers: bearer(editor) })
  assertProblem(res, 403, 'FORBIDDEN')
  assert.equal(res.headers['www-authenticate'], undefined, 'a 403 is not an authentication challenge')
  assert.deepEqual(await productRow(app, p.id), before)
  assert.equal(await count(app, 'products'), 1)
})

test('when a product is deleted without a valid API key, then 401 and the row is unchanged', async (t) => {
  const app = await build(t)
  const p = await createProduct(app, await apiKey(app, 'admin'))
  const before = await productRow(app, p.id)
  const write = { method: 'DELETE' as const, url: `${PRODUCTS}/${p.id}` }
  await assertUnauthorizedCases(t, app, write, 'admin', async () => {
    assert.deepEqual(await productRow(app, p.id), before)
    assert.equal(await count(app, 'products'), 1)
  })
})

test('when an unknown product id is deleted, then 404 PRODUCT_NOT_FOUND and nothing is deleted', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'admin')
  await createProduct(app, key)
  const res = await app.inject({ method: 'DELETE', url: `${PRODUCTS}/${UNKNOWN_ID}`, headers: bearer(key) })
  assertProblem(res, 404, 'PRODUCT_NOT_FOUND')
  assert.equal(await count(app, 'products'), 1)
})

test('when a product is deleted with a stale If-Match, then 412 PRECONDITION_FAILED and the row is unchanged', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'admin')
  const p = await createProduct(app, key)
  const patched = await app.inject({
    method: 'PATCH',
    url: `${PRODUCTS}/${p.id}`,
    headers: bearer(key),
    payload: { description: 'Version 2' }
  })
  assert.equal(patched.statusCode, 200, patched.body)
  const before = await productRow(app, p.id)
  const res = await app.inject({
    method: 'DELETE',
    url: `${PRODUCTS}/${p.id}`,
    headers: { ...bearer(key), 'if-match': `"${p.id}.1"` }
  })
  assertProblem(res, 412, 'PRECONDITION_FAILED')
  assert.deepEqual(await productRow(app, p.id), before)
  assert.equal(await count(app, 'products'), 1)
})
