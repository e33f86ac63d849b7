import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { apiKey, bearer, build, count, assertProblem } from '../helper.js'

const PRODUCTS = '/api/v1/products'

async function productRow(app: FastifyInstance, id: number): Promise<Record<string, unknown> | undefined> {
  const { rows } = await app.db.primary.query('SELECT * FROM products WHERE id = $1', [id])
  return rows[0]
}

async function createProduct(app: FastifyInstance, key: string, sku = 'COND-1') {
  const res = await app.inject({
    method: 'POST',
    url: PRODUCTS,
    headers: bearer(key),
    payload: { sku, name: `Product ${sku}`, priceCents: 1000, currency: 'USD', stock: 10, status: 'active' }
  })
  assert.equal(res.statusCode, 201, res.body)
  return { product: res.json().data as { id: number; version: number }, etag: res.headers.etag as string }
}

const get = (app: FastifyInstance, id: number, headers: Record<string, string> = {}) =>
  app.inject({ method: 'GET', url: `${PRODUCTS}/${id}`, headers })

const patch = (app: FastifyInstance, key: string, id: number, payload: object, ifMatch?: string) =>
  app.inject({
    method: 'PATCH',
    url: `${PRODUCTS}/${id}`,
    headers: { ...bearer(key), ...(ifMatch === undefined ? {} : { 'if-match': ifMatch }) },
    payload
  })

const del = (app: FastifyInstance, key: string, id: number, ifMatch?: string) =>
  app.inject({
    method: 'DELETE',
    url: `${PRODUCTS}/${id}`,
    headers: { ...bearer(key), ...(ifMatch === undefined ? {} : { 'if-match': ifMatch }) }
  })

// ---------------------------------------------------------------------------------------------
// ETag and If-None-Match on GET
// ---------------------------------------------------------------------------------------------

test('when a product is fetched, then its ETag is "<id>.<version>" and equals the one its creation returned', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const { product, etag } = await createProduct(app, key)
  const res = await get(app, product.id)
  assert.equal(res.statusCode, 200)
  assert.equal(res.headers.etag, `"${product.id}.1"`)
  assert.equal(res.headers.etag, etag)
  assert.equal(res.json().data.version, 1)
})

test('when a product is fetched with If-None-Match of its current ETag, then 304 with no body', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const { product } = await createProduct(app, key)
  const etag = `"${product.id}.1"`
  for (const header of [etag, `W/${etag}`, `"${product.id}.9", ${etag}`, '*']) {
    await t.test(`when If-None-Match is ${header}, then 304`, async () => {
      const res = await get(app, product.id, { 'if-none-match': header })
      assert.equal(res.statusCode, 304)
      assert.equal(res.body, '', 'a 304 carries no body')
      assert.equal(res.headers.etag, etag, 'a 304 still names the current ETag')
    })
  }
})

test('when a product is fetched with If-None-Match of another ETag, then 200 with the full body', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const { product } = await createProduct(app, key)
  await createProduct(app, key, 'COND-2')
  for (const header of [`"${product.id}.2"`, `"${product.id + 1}.1"`, `"${product.id}.1`]) {
    await t.test(`when If-None-Match is ${header}, then 200`, async () => {
      const res = await get(app, product.id, { 'if-none-match': header })
      assert.equal(res.statusCode, 200)
      assert.equal(res.json().data.id, product.id)
    })
  }
})

test('when a product was patched, then its old ETag no longer gives 304 and the new one does', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const { product, etag: oldEtag } = await createProduct(app, key)
  assert.equal((await get(app, product.id, { 'if-none-match': oldEtag })).statusCode, 304)

  const patched = await patch(app, key, product.id, { slug: 'p-1234' })
  assert.equal(patched.statusCode, 200, patched.body)
  const newEtag = patched.headers.etag as string
  assert.equal(newEtag, `"${product.id}.2"`)

  const stale = await get(app, product.id, { 'if-none-match': oldEtag })
  assert.equal(stale.statusCode, 200)
  assert.equal(stale.headers.etag, newEtag)
  assert.equal(stale.json().data.slug, 'p-1234')
  assert.equal(stale.json().data.version, 2)

  const fresh = await get(app, product.id, { 'if-none-match': newEtag })
  assert.equal(fresh.statusCode, 304)
  assert.equal(fresh.body, '')
})

test('when a deleted product is fetched with If-None-Match of its last ETag, then 404, not 304', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'admin')
  const { product, etag } = await createProduct(app, key)
  assert.equal((await del(app, key, product.id)).statusCode, 204)
  assertProblem(await get(app, product.id, { 'if-none-match': etag }), 404, 'PRODUCT_NOT_FOUND')
})

// ---------------------------------------------------------------------------------------------
// If-Match on PATCH and DELETE
// ---------------------------------------------------------------------------------------------

test('when a product is patched with a stale or foreign If-Match, then 412 and nothing changes', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const { product } = await createProduct(app, key)
  const { product: other } = await createProduct(app, key, 'COND-2')
  assert.equal((await patch(app, key, product.id, { description: '11' })).statusCode, 200) // now version 2
  const before = await productRow(app, product.id)
  const cases: [string, string][] = [
    ['the previous version', `"${product.id}.1"`],
    ['a future version', `"${product.id}.3"`],
    ["another product's current ETag", `"${other.id}.1"`],
    ['the current ETag as a weak validator', `W/"${product.id}.2"`],
    ['the current ETag without quotes', `${product.id}.2`]
  ]
  for (const [what, ifMatch] of cases) {
    await t.test(`when PATCH If-Match is ${what} (${ifMatch}), then 412`, async () => {
      const res = await patch(app, key, product.id, { description: '99', name: 'Overwritten' }, ifMatch)
      assertProblem(res, 412, 'PRECONDITION_FAILED')
      assert.deepEqual(await productRow(app, product.id), before)
    })
  }
})

test('when a product is patched with its current If-Match, then 200 with version+1; a list containing it or * also matches', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const { product, etag } = await createProduct(app, key)

  const first = await patch(app, key, product.id, { description: '20' }, etag)
  assert.equal(first.statusCode, 200, first.body)
  assert.equal(first.json().data.version, 2)
  assert.equal(first.headers.etag, `"${product.id}.2"`)

  const listed = await patch(app, key, product.id, { description: '21' }, `"${product.id}.1", "${product.id}.2"`)
  assert.equal(listed.statusCode, 200, listed.body)
  assert.equal(listed.json().data.version, 3)

  const star = await patch(app, key, product.id, { description: '22' }, '*')
  assert.equal(star.statusCode, 200, star.body)
  assert.equal(star.json().data.version, 4)
  assert.equal(star.headers.etag, `"${product.id}.4"`)

  const row = await productRow(app, product.id)
  assert.ok(row)
  assert.deepEqual([row.description, row.version], ['22', 4])
  // The ETag a PATCH returns is the one GET now serves.
  assert.equal((await get(app, product.id)).headers.etag, star.headers.etag)
})

test('when If-Match: * is sent for a product that does not exist, then PATCH and DELETE answer 404', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'admin')
  assertProblem(await patch(app, key, 2_000_000_000, { description: '1' }, '*'), 404, 'PRODUCT_NOT_FOUND')
  assertProblem(await del(app, key, 2_000_000_000, '*'), 404, 'PRODUCT_NOT_FOUND')
  assert.equal(await count(app, 'products'), 0)
})

test('when a product is deleted with a stale If-Match, then 412 and it is still there', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'admin')
  const { product, etag } = await createProduct(app, key)
  assert.equal((await patch(app, key, product.id, { description: '3' })).statusCode, 200)
  const before = await productRow(app, product.id)
  for (const ifMatch of [etag, `"${product.id}.3"`, `W/"${product.id}.2"`]) {
    await t.test(`when DELETE If-Match is ${ifMatch}, then 412`, async () => {
      assertProblem(await del(app, key, product.id, ifMatch), 412, 'PRECONDITION_FAILED')
      assert.deepEqual(await productRow(app, product.id), before)
      assert.equal(await count(app, 'products'), 1)
    })
  }
})

test('when a product is deleted with its current If-Match, then 204 and it is gone', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'admin')
  const { product } = await createProduct(app, key)
  const current = (await get(app, product.id)).headers.etag as string
  const res = await del(app, key, product.id, current)
  assert.equal(res.statusCode, 204, res.body)
  assert.equal(res.body, '')
  assert.equal(await productRow(app, product.id), undefined)
})

test('when a product is deleted with If-Match: *, then 204 and it is gone', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'admin')
  const { product } = await createProduct(app, key)
  await createProduct(app, key, 'COND-2')
  const res = await del(app, key, product.id, '*')
  assert.equal(res.statusCode, 204, res.body)
  assert.equal(await productRow(app, product.id), undefined)
  assert.equal(await count(app, 'products'), 1)
})

// ---------------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------------

test('when two PATCHes race with the same If-Match, then exactly one gets 200 and the other 412, each round', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const { product } = await createProduct(app, key)
  for (let round = 1; round <= 10; round++) {
    const version = round // version before this round
    const ifMatch = `"${product.id}.${version}"`
    const [a, b] = await Promise.all([
      patch(app, key, product.id, { slug: `p-${100_000 + round}`, name: `A${round}` }, ifMatch),
      patch(app, key, product.id, { slug: `p-${200_000 + round}`, name: `B${round}` }, ifMatch)
    ])
    const statuses = [a.statusCode, b.statusCode].sort()
    assert.deepEqual(statuses, [200, 412], `round ${round}: ${a.statusCode} ${a.body} / ${b.statusCode} ${b.body}`)
    const [winner, loser] = a.statusCode === 200 ? [a, b] : [b, a]
    assertProblem(loser, 412, 'PRECONDITION_FAILED')
    const won = winner.json().data
    assert.equal(won.version, version + 1, `round ${round}: the winner's version`)
    assert.equal(winner.headers.etag, `"${product.id}.${version + 1}"`)
    // The stored row is exactly the winner's write: the loser changed nothing.
    const row = await productRow(app, product.id)
    assert.ok(row)
    assert.deepEqual([row.version, row.slug, row.name], [version + 1, won.slug, won.name], `round ${round}`)
  }
  const row = await productRow(app, product.id)
  assert.equal(row?.version, 11)
})

test('when two unconditional PATCHes race, then both succeed and the version rises by two (no lost version)', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const { product } = await createProduct(app, key)
  for (let round = 0; round < 5; round++) {
    const [a, b] = await Promise.all([
      patch(app, key, product.id, { description: String(1 + round) }),
      patch(app, key, product.id, { slug: `p-${50 + round}` })
    ])
    assert.equal(a.statusCode, 200, a.body)
    assert.equal(b.statusCode, 200, b.body)
    const versions = [a.json().data.version, b.json().data.version].sort((x, y) => x - y)
    assert.deepEqual(versions, [2 + 2 * round, 3 + 2 * round])
  }
  const row = await productRow(app, product.id)
  assert.ok(row)
  // Different fields in each racer: both writes are kept.
  assert.deepEqual([row.version, row.description, row.slug], [11, '5', 'p-54'])
})

test('when a PATCH and a DELETE race with the same If-Match, then exactly one succeeds and the row reflects it', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  for (let round = 0; round < 5; round++) {
    const { product, etag } = await createProduct(app, admin, `RACE-${round}`)
    const [p, d] = await Promise.all([
      patch(app, admin, product.id, { description: '77' }, etag),
      del(app, admin, product.id, etag)
    ])
    const row = await productRow(app, product.id)
    if (p.statusCode === 200) {
      assertProblem(d, 412, 'PRECONDITION_FAILED')
      assert.deepEqual([row?.version, row?.description], [2, '77'])
    } else {
      assert.equal(d.statusCode, 204, d.body)
      assert.equal(row, undefined)
      // The PATCH lost to a delete: the product is gone (404) or, having read it first, its precondition failed (412).
      assert.ok([404, 412].includes(p.statusCode), `PATCH after a racing DELETE answered ${p.statusCode}: ${p.body}`)
    }
  }
})
