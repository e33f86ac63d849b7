import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Gauge } from 'prom-client'
import { type CreatedProduct, documentOf } from '../../src/modules/products/derived-rows.js'
import { apiKey, bearer, build, pricesAgainstTheFunction, type TestApp } from '../helper.js'

// An import that only creates products writes their documents and price rows itself (src/modules/products/derived-rows.ts,
// migration 017). They must be exactly what the database's own functions give for the same products.

const AWKWARD =
  'Quote " backslash \\ tab \t newline \n bell \u0007 ✓ emoji 🎉 separator \u2028 slash / dollar $1 del \u007f'
const price = (currency: string, amountCents: number) => ({ currency, amountCents })

const products = (categoryId: number) => [
  {
    name: `Tee ${AWKWARD.slice(0, 80)}`,
    slug: 'awkward-tee',
    description: AWKWARD,
    categoryId,
    status: 'active',
    tags: ['cotton', 'summer-sale'],
    options: [
      { name: 'Size "EU"', values: ['S', 'M \\ L'] },
      { name: 'Colour', values: ['Black', 'Grün 🎉'] }
    ],
    variants: [
      // EUR appears first, JPY last: the price range keeps the order currencies first appear in.
      { sku: 'AW-S-B', optionValues: ['S', 'Black'], prices: [price('EUR', 1899)], stock: 0 },
      {
        sku: 'AW-S-G',
        title: `Own title ${AWKWARD.slice(0, 30)}`,
        optionValues: ['S', 'Grün 🎉'],
        prices: [price('USD', 2499), price('EUR', 1799)],
        compareAtPrices: [price('USD', 2999)],
        stock: 7,
        barcode: '4006381333931',
        weightGrams: 180
      },
      {
        sku: 'AW-M-B',
        optionValues: ['M \\ L', 'Black'],
        prices: [{ amountCents: 1999, currency: 'USD' }, price('JPY', 2500)],
        compareAtPrices: [],
        stock: 3,
        barcode: 'SKU-BOX_1.a'
      }
    ],
    media: [
      { url: 'https://cdn.example.com/a.jpg?x="1"', alt: AWKWARD.slice(0, 40), width: 800, height: 600 },
      { url: 'https://cdn.example.com/b.jpg', variantSkus: ['AW-S-G', 'AW-M-B'] }
    ]
  },
  {
    name: 'Plain mug',
    slug: 'plain-mug',
    status: 'draft',
    variants: [{ sku: 'MUG-1', prices: [price('USD', 900)] }]
  },
  {
    name: 'Unpriced sample',
    slug: 'unpriced-sample',
    status: 'archived',
    tags: ['sample'],
    variants: [{ sku: 'SAMPLE-1', prices: [], stock: 2 }],
    media: []
  }
]

async function importProducts(app: TestApp, key: string, lines: unknown[]) {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/imports',
    headers: { ...bearer(key), 'content-type': 'application/x-ndjson' },
    payload: lines.map((l) => JSON.stringify(l)).join('\n')
  })
  assert.equal(res.statusCode, 202, res.body)
  return res.json().data as { counts: Record<string, number>; errors: unknown[] }
}

/** Each stored document beside the one product_documents_of builds now from the rows. */
async function documentsAgainstTheFunction(app: TestApp) {
  const { rows } = await app.db.primary.query<{ id: number; stored: string; built: string }>(
    `SELECT d.product_id AS id, d.doc AS stored, o.doc AS built
       FROM product_documents d CROSS JOIN LATERAL product_documents_of(ARRAY[d.product_id]) o ORDER BY 1`
  )
  return rows
}

test('when an import creates products, then their documents and price rows are those the database builds, byte for byte', async (t) => {
  const app = await build(t, { CACHE_ENABLED: 'false' })
  const key = await apiKey(app, 'editor')
  const category = await app.db.primary.query<{ id: number }>(
    `INSERT INTO categories (name, slug) VALUES ('Shirts', 'shirts') RETURNING id`
  )
  const data = await importProducts(app, key, products(category.rows[0]?.id as number))
  assert.deepEqual(data.counts, { created: 3, updated: 0, unchanged: 0, failed: 0 }, JSON.stringify(data.errors))

  const documents = await documentsAgainstTheFunction(app)
  assert.equal(documents.length, 3)
  for (const d of documents) assert.equal(d.stored, d.built, `product ${d.id}`)
  const prices = await pricesAgainstTheFunction(app)
  assert.equal(prices.stored.length, 4) // USD, EUR, JPY of the tee; USD of the mug; the sample has none
  assert.deepEqual(prices.stored, prices.built)

  // A later batch that changes one of them and creates another goes through the triggers: the same holds.
  const changed = products(category.rows[0]?.id as number)[0] as Record<string, unknown>
  changed.variants = (changed.variants as { sku: string }[]).slice(1)
  const again = await importProducts(app, key, [
    changed,
    { name: 'Second mug', slug: 'second-mug', variants: [{ sku: 'MUG-2', prices: [price('GBP', 700)] }] }
  ])
  assert.deepEqual(again.counts, { created: 1, updated: 1, unchanged: 0, failed: 0 })
  for (const d of await documentsAgainstTheFunction(app)) assert.equal(d.stored, d.built, `product ${d.id}`)
  const after = await pricesAgainstTheFunction(app)
  assert.deepEqual(after.stored, after.built)
  assert.ok(after.stored.some((r) => r.currency === 'GBP'))
})

test('when the import builds a document, then it is the one product_documents_of builds for the same product', async (t) => {
  // The builder itself, fed the products as the API reads them back: what a create batch hands it.
  const app = await build(t, { CACHE_ENABLED: 'false' })
  const key = await apiKey(app, 'editor')
  const category = await app.db.primary.query<{ id: number }>(
    `INSERT INTO categories (name, slug) VALUES ('Shirts', 'shirts') RETURNING id`
  )
  await importProducts(app, key, products(category.rows[0]?.id as number))
  const documents = await documentsAgainstTheFunction(app)
  for (const d of documents) {
    const read = await app.inject({ url: `/api/v1/products/${d.id}`, headers: bearer(key) })
    const product = read.json().data as CreatedProduct & { createdAt: string }
    assert.equal(documentOf(product, product.createdAt), d.built, `product ${d.id}`)
  }
})

test('when a transaction says it writes its derived rows, then the variants’ insert triggers leave them to it', async (t) => {
  const app = await build(t)
  const client = await app.db.primary.connect()
  const insert = async (slug: string) => {
    const { rows } = await client.query<{ id: number }>(
      `WITH p AS (INSERT INTO products (name, slug, status) VALUES ($1, $1, 'active') RETURNING id)
       INSERT INTO product_variants (product_id, sku, title, prices)
       SELECT id, $1, 'Default', '[{"currency": "USD", "amountCents": 100}]' FROM p RETURNING product_id AS id`,
      [slug]
    )
    return rows[0]?.id as number
  }
  const derived = async (id: number) =>
    (
      await client.query<{ documents: number; prices: number }>(
        `SELECT (SELECT count(*)::int FROM product_documents WHERE product_id = $1) AS documents,
                (SELECT count(*)::int FROM product_prices WHERE product_id = $1) AS prices`,
        [id]
      )
    ).rows[0]
  try {
    await client.query('BEGIN')
    await client.query(`SET LOCAL catalog.derived_rows = 'written'`)
    const skipped = await insert('skipped')
    assert.deepEqual(await derived(skipped), { documents: 0, prices: 0 })
    await client.query('ROLLBACK')
    // The setting ends with its transaction: the next one is served by the triggers.
    await client.query('BEGIN')
    const served = await insert('served')
    assert.deepEqual(await derived(served), { documents: 1, prices: 1 })
    await client.query('ROLLBACK')
  } finally {
    client.release()
  }
})

/** Polls `sql` on the primary until it returns a row (at most 10 s). */
async function until(app: TestApp, sql: string, params: unknown[]): Promise<void> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(10)) {
    if ((await app.db.primary.query(sql, params)).rowCount) return
  }
  throw new Error(`never true: ${sql}`)
}

/** Waits until `count` creates wait for their turn (the write_batch_waiting gauge; at most 10 s). */
async function waitingCreates(app: TestApp, count: number): Promise<void> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(10)) {
    const { values } = await (app.metrics.registry.getSingleMetric('write_batch_waiting') as Gauge).get()
    if (values.find((v) => v.labels.kind === 'create')?.value === count) return
  }
  throw new Error(`${count} creates never waited together`)
}

test('when API creates are written in one batch, then their documents, price rows, answers and audit entries are those a read and the database give', async (t) => {
  // A batch of creates (src/modules/products/new-products.ts) builds its rows in the API, as an import does.
  const app = await build(t, { CACHE_ENABLED: 'false', WRITE_BATCHES_IN_FLIGHT: '1' })
  const headers = bearer(await apiKey(app, 'editor'))
  const category = await app.db.primary.query<{ id: number }>(
    `INSERT INTO categories (name, slug) VALUES ('Shirts', 'shirts') RETURNING id`
  )
  // The same products as the import's, without media (a create with media is written alone).
  const bodies = products(category.rows[0]?.id as number).map(({ media: _media, variants, ...fields }) => ({
    ...fields,
    variants: variants.map(({ variantSkus: _skus, ...v }: Record<string, unknown>) => v)
  }))
  // The first create runs alone at once; the three sent while it runs wait and go together. It is held on a lock of
  // its category until they are all waiting, however slowly this machine runs them.
  const send = (payload: object) => app.inject({ method: 'POST', url: '/api/v1/products', headers, payload })
  const holder = await app.db.primary.connect()
  let first: ReturnType<typeof send>
  let rest: ReturnType<typeof send>[]
  try {
    await holder.query('BEGIN')
    await holder.query('SELECT 1 FROM categories WHERE id = $1 FOR UPDATE', [category.rows[0]?.id])
    first = send({ name: 'First', sku: 'FIRST-1', categoryId: category.rows[0]?.id })
    await until(app, 'SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = $1', [
      'Lock'
    ])
    rest = bodies.map(send)
    await waitingCreates(app, bodies.length)
  } finally {
    // Ends its session, so the lock goes whatever happened (the app's pool must get every connection back to close).
    holder.release(true)
  }
  const [, ...answers] = await Promise.all([first, ...rest])
  for (const res of answers) assert.equal(res.statusCode, 201, res.body)
  const ids = answers.map((res) => res.json().data.id as number)
  const { rows: tx } = await app.db.primary.query<{ tx: string }>(
    'SELECT DISTINCT xmin::text AS tx FROM products WHERE id = ANY($1::integer[])',
    [ids]
  )
  assert.equal(tx.length, 1, 'the three creates were written in one transaction')

  const documents = await documentsAgainstTheFunction(app)
  assert.equal(documents.length, 4)
  for (const d of documents) assert.equal(d.stored, d.built, `product ${d.id}`)
  const prices = await pricesAgainstTheFunction(app)
  assert.deepEqual(prices.stored, prices.built)
  assert.equal(prices.stored.length, 4) // USD, EUR, JPY of the tee; USD of the mug; the others have none

  const { rows: entries } = await app.db.primary.query<{ entity_type: string; entity_id: number; values: string }>(
    `SELECT entity_type, entity_id, new_values::text AS values FROM audit_log WHERE action = 'create' ORDER BY id`
  )
  for (const res of answers) {
    const created = res.json().data as Record<string, unknown> & { id: number; variants: { id: number }[] }
    const read = await app.inject({ url: `/api/v1/products/${created.id}`, headers })
    assert.deepEqual(read.json().data, created, 'the answer is what a read of the product gives')
    const { variants, priceRange: _range, ...fields } = created
    const entry = (type: string, id: number) =>
      JSON.parse(entries.find((e) => e.entity_type === type && e.entity_id === id)?.values ?? 'null')
    assert.deepEqual(entry('product', created.id), fields)
    for (const v of variants) {
      const values: { prices: object[] } = entry('variant', v.id)
      assert.deepEqual(values, { ...v, productId: created.id })
      for (const p of values.prices) assert.deepEqual(Object.keys(p), ['currency', 'amountCents'], 'as jsonb keeps it')
    }
  }
})
