import assert from 'node:assert/strict'
import { test } from 'node:test'
import { loadMigrations, migrate } from '../../src/db/migrate.js'
import { appendEntry } from '../../src/writes/audit-log.js'
import { sealWith } from '../../src/writes/sealer.js'
import { verifyChain } from '../../src/writes/verify.js'
import { apiKey, bearer, build, connect, createTestDatabase } from '../helper.js'

interface OldProduct {
  id: number
  sku: string
  name: string
  slug: string
  description: string
  price_cents: number
  currency: string
  category_id: number | null
  stock: number
  status: string
  version: number
  created_at: Date
  updated_at: Date
}

test('when a database at migration 003 with products, categories and audit entries is migrated, then every product has one default variant with its SKU, price and stock, and the chain verifies', async (t) => {
  const target = await createTestDatabase(t, { empty: true })
  const db = await connect(t, target)
  const all = await loadMigrations()
  await migrate(
    db,
    all.filter((m) => m.version <= 3)
  )
  await db.query(`INSERT INTO categories (name, slug) VALUES ('Lamps', 'lamps'), ('Mugs', 'mugs')`)
  await db.query(
    `INSERT INTO products (sku, name, slug, description, price_cents, currency, category_id, stock, status, version,
                           created_at, updated_at)
     SELECT 'OLD-' || i, 'Old product ' || i, 'old-product-' || i, 'Described ' || i, i * 101,
            (ARRAY['USD','EUR','JPY','GBP'])[1 + i % 4], CASE WHEN i % 3 = 0 THEN NULL ELSE 1 + i % 2 END,
            i % 7, (ARRAY['draft','active','archived'])[1 + i % 3]::product_status, 1 + i % 4,
            timestamptz '2025-03-01T00:00:00Z' + i * interval '1 minute', timestamptz '2025-04-01T00:00:00.123Z'
       FROM generate_series(1, 60) i`
  )
  const before = (await db.query<OldProduct>('SELECT * FROM products ORDER BY id')).rows
  for (const p of before.slice(0, 5)) {
    await appendEntry(db, {
      action: 'create',
      entityType: 'product',
      entityId: p.id,
      actor: { type: 'system', id: null, name: 'cli', role: null },
      ip: null,
      userAgent: null,
      requestId: null,
      oldValues: null,
      newValues: { sku: p.sku, priceCents: p.price_cents, currency: p.currency },
      changedFields: ['currency', 'priceCents', 'sku']
    })
  }
  // Sealed as a 003 database is (its events table comes with 005).
  assert.equal((await sealWith(db, undefined, false)).sealed, 5)
  const categoriesBefore = (await db.query('SELECT * FROM categories ORDER BY id')).rows

  assert.ok((await migrate(db, all)).includes('004_catalog_model.sql'))

  const products = (await db.query('SELECT * FROM products ORDER BY id')).rows
  const variants = (await db.query('SELECT * FROM product_variants ORDER BY product_id, position')).rows
  const ranges = (await db.query('SELECT * FROM product_prices ORDER BY product_id')).rows
  assert.equal(products.length, before.length)
  assert.equal(variants.length, before.length)
  assert.equal(ranges.length, before.length)
  for (const [i, old] of before.entries()) {
    const p = products[i]
    for (const column of ['id', 'name', 'slug', 'description', 'category_id', 'status', 'version'] as const) {
      assert.deepEqual(p[column], old[column], `product ${old.id} ${column}`)
    }
    assert.deepEqual([p.created_at, p.updated_at], [old.created_at, old.updated_at])
    assert.deepEqual([p.options, p.media, p.tags], [[], [], []])
    const v = variants[i]
    assert.equal(v.product_id, old.id)
    assert.equal(v.sku, old.sku)
    assert.deepEqual(v.prices, [{ currency: old.currency, amountCents: old.price_cents }])
    assert.equal(v.stock, old.stock)
    assert.deepEqual(v.option_values, [])
    assert.deepEqual(ranges[i], {
      product_id: old.id,
      currency: old.currency,
      min_cents: old.price_cents,
      max_cents: old.price_cents,
      status: old.status,
      category_id: old.category_id
    })
  }
  assert.deepEqual((await db.query('SELECT * FROM categories ORDER BY id')).rows, categoriesBefore)
  assert.deepEqual(await verifyChain(db, { maxDelayMs: 5000 }), {
    ok: true,
    checked: 5,
    firstPosition: 1,
    lastPosition: 5,
    unsealed: 0
  })

  // The migrated data serves through the API, and new variants get ids after the migrated ones.
  const app = await build(t, {}, target)
  const key = await apiKey(app, 'admin')
  const old = before[4] as OldProduct
  const read = await app.inject({ url: `/api/v1/products/${old.id}`, headers: bearer(key) })
  assert.equal(read.statusCode, 200)
  const variant = read.json().data.variants[0]
  assert.deepEqual(
    [variant.sku, variant.prices, variant.stock],
    [old.sku, [{ currency: old.currency, amountCents: old.price_cents }], old.stock]
  )
  const added = await app.inject({
    method: 'POST',
    url: '/api/v1/products',
    headers: bearer(key),
    payload: { name: 'After', variants: [{ sku: 'NEW-1', prices: [{ currency: 'EUR', amountCents: 5 }] }] }
  })
  assert.equal(added.statusCode, 201, added.body)
  assert.ok(added.json().data.variants[0].id > before.length)
})
