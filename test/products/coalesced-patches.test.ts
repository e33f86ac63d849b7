import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { apiKey, assertProblem, bearer, build, pricesAgainstTheFunction } from '../helper.js'

// Concurrent variant PATCHes share transactions (writes/coalescer.ts): each keeps its own answer, If-Match and audit
// entry, and the product's version moves once per change, as when they run one by one.

const ONE_IN_FLIGHT = { WRITE_BATCHES_IN_FLIGHT: '1', WRITE_BATCH_MAX: '64' }

interface Made {
  id: number
  variants: { id: number; version: number }[]
}

/** `n` products of two variants each, made one by one. */
async function products(app: FastifyInstance, headers: Record<string, string>, n: number): Promise<Made[]> {
  const made: Made[] = []
  for (let i = 0; i < n; i++) {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/products',
      headers,
      payload: {
        name: `Patched ${i}`,
        options: [{ name: 'Size', values: ['S', 'M'] }],
        variants: ['S', 'M'].map((size) => ({
          sku: `CP-${i}-${size}`,
          optionValues: [size],
          prices: [{ currency: 'USD', amountCents: 100 }],
          stock: 1
        }))
      }
    })
    assert.equal(res.statusCode, 201, res.body)
    made.push(res.json().data as Made)
  }
  return made
}

const patch = (
  app: FastifyInstance,
  headers: Record<string, string>,
  productId: number,
  variantId: number,
  ifMatch: string,
  body: object,
  requestId: string
) =>
  app.inject({
    method: 'PATCH',
    url: `/api/v1/products/${productId}/variants/${variantId}`,
    headers: { ...headers, 'if-match': ifMatch, 'x-request-id': requestId },
    payload: body
  })

test('when 20 variant PATCHes arrive together, then they share transactions and each gets its own answer, entry and version', async (t) => {
  const app = await build(t, ONE_IN_FLIGHT)
  const headers = bearer(await apiKey(app, 'editor'))
  const made = await products(app, headers, 10)
  // Both variants of every product: a product's version moves twice.
  const targets = made.flatMap((p) => p.variants.map((v) => ({ productId: p.id, variant: v })))
  const answers = await Promise.all(
    targets.map(({ productId, variant }, n) =>
      patch(
        app,
        headers,
        productId,
        variant.id,
        `"${variant.id}.${variant.version}"`,
        { stock: 100 + n, prices: [{ currency: 'EUR', amountCents: 500 + n }], barcode: null, title: `T${n}` },
        `patch-req-${n}`
      )
    )
  )
  answers.forEach((res, n) => {
    assert.equal(res.statusCode, 200, res.body)
    const v = res.json().data as { id: number; stock: number; version: number; title: string; prices: unknown }
    assert.equal(v.id, targets[n]?.variant.id)
    assert.equal(v.stock, 100 + n)
    assert.equal(v.title, `T${n}`)
    assert.deepEqual(v.prices, [{ currency: 'EUR', amountCents: 500 + n }])
    assert.equal(v.version, (targets[n]?.variant.version ?? 0) + 1)
    assert.equal(res.headers.etag, `"${v.id}.${v.version}"`)
    assert.match(String(res.headers['x-consistency-token']), /\S/)
  })
  const { rows } = await app.db.primary.query<{ tx: string }>(
    `SELECT DISTINCT xmin::text AS tx FROM product_variants WHERE id = ANY($1::integer[])`,
    [targets.map((x) => x.variant.id)]
  )
  assert.ok(rows.length < 20, `20 PATCHes committed in ${rows.length} transactions: none was batched`)
  for (const p of made) {
    const read = await app.inject({ url: `/api/v1/products/${p.id}`, headers })
    const product = read.json().data as { version: number; variants: { stock: number }[]; priceRange: object }
    assert.equal(product.version, 3, 'created at 1, then one move per variant changed')
    assert.ok('EUR' in product.priceRange, 'the product document follows its variants')
  }
  const { rows: entries } = await app.db.primary.query<{ request_id: string; entity_id: number; old_values: object }>(
    `SELECT request_id, entity_id, old_values FROM audit_log WHERE action = 'update' AND entity_type = 'variant'`
  )
  assert.equal(entries.length, 20)
  targets.forEach(({ variant }, n) => {
    const own = entries.filter((e) => e.request_id === `patch-req-${n}`)
    assert.equal(own.length, 1)
    assert.equal(own[0]?.entity_id, variant.id)
    assert.equal((own[0]?.old_values as { stock: number }).stock, 1)
  })
})

test('when PATCHes of one batch carry a stale If-Match, name a missing variant or change the same variant, then those get their own answers and the rest are written', async (t) => {
  const app = await build(t, ONE_IN_FLIGHT)
  const headers = bearer(await apiKey(app, 'editor'))
  const made = await products(app, headers, 6)
  const tag = (v: { id: number; version: number }) => `"${v.id}.${v.version}"`
  const first = (i: number) => made[i]?.variants[0] as { id: number; version: number }
  // Three bursts, each with one PATCH that must fail, never first (the first of a burst runs alone).
  const stale = await Promise.all([
    ...[0, 1, 2].map((i) =>
      patch(app, headers, made[i]?.id as number, first(i).id, tag(first(i)), { stock: 7 }, `a${i}`)
    ),
    patch(app, headers, made[3]?.id as number, first(3).id, `"${first(3).id}.99"`, { stock: 8 }, 'stale')
  ])
  const missing = await Promise.all([
    patch(app, headers, made[4]?.id as number, first(4).id, tag(first(4)), { stock: 7 }, 'b0'),
    patch(app, headers, made[2]?.id as number, made[2]?.variants[1]?.id as number, '*', { stock: 7 }, 'b1'),
    patch(app, headers, made[4]?.id as number, 2_000_000_000, '"2000000000.1"', { stock: 8 }, 'missing'),
    // A variant of another product than the one in the path is not found either.
    patch(app, headers, made[0]?.id as number, first(1).id, '*', { stock: 11 }, 'elsewhere')
  ])
  const twice = await Promise.all([
    patch(app, headers, made[1]?.id as number, made[1]?.variants[1]?.id as number, '*', { stock: 7 }, 'c0'),
    patch(app, headers, made[5]?.id as number, first(5).id, tag(first(5)), { stock: 9 }, 'twice-1'),
    patch(app, headers, made[5]?.id as number, first(5).id, tag(first(5)), { stock: 10 }, 'twice-2')
  ])
  const answers = [...stale, ...missing, ...twice]
  const statuses = answers.map((r) => r.statusCode)
  assert.deepEqual(statuses.slice(0, 3), [200, 200, 200], JSON.stringify(statuses))
  assertProblem(answers[3] as never, 412, 'PRECONDITION_FAILED')
  assert.deepEqual([statuses[4], statuses[5], statuses[8]], [200, 200, 200], JSON.stringify(statuses))
  assertProblem(answers[6] as never, 404, 'VARIANT_NOT_FOUND')
  assertProblem(answers[7] as never, 404, 'VARIANT_NOT_FOUND')
  assert.deepEqual([statuses[9], statuses[10]].sort(), [200, 412], JSON.stringify(statuses))

  const { rows } = await app.db.primary.query<{ id: number; stock: number; version: number }>(
    'SELECT id, stock, version FROM product_variants WHERE id = ANY($1::integer[]) ORDER BY id',
    [[0, 1, 2, 3, 4, 5].map((i) => first(i).id)]
  )
  const byId = new Map(rows.map((r) => [r.id, r]))
  for (const i of [0, 1, 2, 4]) assert.deepEqual(byId.get(first(i).id), { id: first(i).id, stock: 7, version: 2 })
  assert.deepEqual(byId.get(first(3).id), { id: first(3).id, stock: 1, version: 1 }, 'the stale PATCH changed nothing')
  const twiceRow = byId.get(first(5).id)
  assert.equal(twiceRow?.version, 2, 'one of the two PATCHes of the same version was written')
  assert.equal(twiceRow?.stock, statuses[9] === 200 ? 9 : 10)
  const { rows: entries } = await app.db.primary.query<{ request_id: string }>(
    `SELECT request_id FROM audit_log WHERE action = 'update' AND entity_type = 'variant' ORDER BY request_id`
  )
  assert.deepEqual(
    entries.map((e) => e.request_id),
    ['a0', 'a1', 'a2', 'b0', 'b1', 'c0', statuses[9] === 200 ? 'twice-1' : 'twice-2']
  )
})

const AWKWARD = 'Quote " backslash \\ tab \t newline \n bell \u0007 ✓ emoji 🎉 separator \u2028 slash / dollar $1'

test('when a batch of PATCHes writes its products’ documents and price rows, then they are those the database builds', async (t) => {
  const app = await build(t, ONE_IN_FLIGHT)
  const headers = bearer(await apiKey(app, 'editor'))
  const made: Made[] = []
  for (let i = 0; i < 4; i++) {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/products',
      headers,
      payload: {
        name: `${AWKWARD.slice(0, 50)} ${i}`,
        description: AWKWARD,
        tags: ['cotton', `t-${i}`],
        options: [{ name: 'Size "EU"', values: ['S', 'M \\ L', 'XL'] }],
        variants: ['S', 'M \\ L', 'XL'].map((size, n) => ({
          sku: `DOC-${i}-${n}`,
          optionValues: [size],
          prices: [{ currency: 'EUR', amountCents: 900 + n }],
          ...(n === 1 ? { compareAtPrices: [{ currency: 'EUR', amountCents: 1500 }], barcode: '4006381333931' } : {}),
          ...(n === 2 ? { weightGrams: 250, title: `Own ${AWKWARD.slice(0, 20)}` } : {})
        })),
        media: [
          { url: 'https://cdn.example.com/a.jpg?x="1"', alt: AWKWARD.slice(0, 30), width: 800, height: 600 },
          { url: 'https://cdn.example.com/b.jpg' }
        ]
      }
    })
    assert.equal(res.statusCode, 201, res.body)
    made.push(res.json().data as Made)
  }
  // Two variants of product 0 in one batch (its version moves twice); a variant moved last (the order of the
  // document's variants changes); a new currency and a title with every awkward character; prices removed.
  const edits: [number, number, object][] = [
    [
      0,
      0,
      {
        prices: [
          { currency: 'USD', amountCents: 1999 },
          { currency: 'EUR', amountCents: 1 }
        ],
        position: 5
      }
    ],
    [0, 2, { title: AWKWARD, barcode: null, stock: 3 }],
    [1, 1, { compareAtPrices: null, weightGrams: 12, prices: [{ currency: 'JPY', amountCents: 2500 }] }],
    [2, 0, { stock: 0, sku: 'DOC-2-RENAMED' }],
    [3, 2, { prices: [], compareAtPrices: [{ currency: 'GBP', amountCents: 5 }] }]
  ]
  const answers = await Promise.all(
    edits.map(([p, v, body], n) => {
      const variant = made[p]?.variants[v] as { id: number; version: number }
      return patch(app, headers, made[p]?.id as number, variant.id, `"${variant.id}.${variant.version}"`, body, `d${n}`)
    })
  )
  answers.forEach((res) => assert.equal(res.statusCode, 200, res.body))
  const { rows: sizes } = await app.db.primary.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM audit_log WHERE action = 'update' AND entity_type = 'variant' GROUP BY xmin::text`
  )
  assert.ok(
    sizes.some((s) => s.n > 1),
    'some PATCHes shared a transaction'
  )

  const { rows } = await app.db.primary.query<{ id: number; stored: string | null; built: string }>(
    `SELECT f.product_id AS id, d.doc AS stored, f.doc AS built
       FROM product_documents_of($1::integer[]) f LEFT JOIN product_documents d ON d.product_id = f.product_id`,
    [made.map((p) => p.id)]
  )
  assert.equal(rows.length, 4)
  for (const { id, stored, built } of rows) {
    assert.equal(stored, built, `the stored document of product ${id}`)
    const read = await app.inject({ url: `/api/v1/products/${id}`, headers })
    assert.equal(read.body, `{"success":true,"data":${built}}`)
  }
  const first = JSON.parse(rows.find((r) => r.id === made[0]?.id)?.built as string) as {
    version: number
    variants: { sku: string; title: string }[]
    priceRange: object
  }
  assert.equal(first.version, 3, 'created at 1, two variants changed')
  assert.deepEqual(
    first.variants.map((v) => v.sku),
    ['DOC-0-1', 'DOC-0-2', 'DOC-0-0'],
    'the moved variant comes last'
  )
  assert.equal(first.variants[1]?.title, AWKWARD)

  // The price rows, as stored and as refresh_product_prices writes them again.
  const prices = await pricesAgainstTheFunction(app)
  assert.deepEqual(prices.stored, prices.built)
  assert.ok(prices.stored.some((r) => r.currency === 'JPY' && r.product_id === made[1]?.id))
  assert.deepEqual(first.priceRange, { EUR: { min: 1, max: 902 }, USD: { min: 1999, max: 1999 } })
})
