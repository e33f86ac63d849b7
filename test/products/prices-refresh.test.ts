import assert from 'node:assert/strict'
import { test } from 'node:test'
import { connect, createTestDatabase } from '../helper.js'

test('when a variant is written in a catalog that grew since its last ANALYZE, then keeping product_prices reads products by key, never the whole table', async (t) => {
  const db = await connect(t, await createTestDatabase(t))
  // Not analyzed after the load, as after a large import before autovacuum runs: a join planned on the old
  // statistics would scan every product on each variant write.
  await db.query(
    `INSERT INTO products (name, slug) SELECT 'P' || i, 'p-' || i FROM generate_series(1, 20000) AS i;
     INSERT INTO product_variants (product_id, sku, title, prices)
     SELECT id, 'SKU-' || id, 'Default', '[{"currency": "USD", "amountCents": 100}]' FROM products`
  )
  // The session's statistics not yet reported: the scans counted from here on are those of the writes below.
  const scansNow = () =>
    db.query<{ relname: string; seq_scan: number }>(
      `SELECT relname, seq_scan FROM pg_stat_xact_user_tables WHERE relname IN ('products', 'product_prices')
        ORDER BY relname`
    )
  await db.query('BEGIN')
  const before = await scansNow()
  const product = await db.query<{ id: number }>(`INSERT INTO products (name, slug) VALUES ('New', 'new') RETURNING id`)
  const id = product.rows[0]?.id
  await db.query(
    `INSERT INTO product_variants (product_id, sku, title, prices)
     VALUES ($1, 'NEW-1', 'Default', '[{"currency": "USD", "amountCents": 1999}, {"currency": "EUR", "amountCents": 1899}]')`,
    [id]
  )
  await db.query(
    `UPDATE product_variants SET prices = '[{"currency": "USD", "amountCents": 2499}]' WHERE sku = 'NEW-1'`
  )
  const scans = await scansNow()
  const prices = await db.query('SELECT currency, min_cents, max_cents FROM product_prices WHERE product_id = $1', [id])
  await db.query('ROLLBACK')
  for (const [i, row] of scans.rows.entries())
    assert.equal(row.seq_scan - (before.rows[i]?.seq_scan ?? 0), 0, `sequential scans of ${row.relname}`)
  assert.deepEqual(prices.rows, [{ currency: 'USD', min_cents: 2499, max_cents: 2499 }])
})

test('when products are deleted, with their variants or without any, then their price rows and documents go with them and no other product’s do', async (t) => {
  const db = await connect(t, await createTestDatabase(t))
  const { rows } = await db.query<{ id: number }>(
    `INSERT INTO products (name, slug) SELECT 'P' || i, 'p-' || i FROM generate_series(1, 4) AS i RETURNING id`
  )
  const [a, b, c, d] = rows.map((r) => r.id) as [number, number, number, number]
  // a, b, c with variants priced in two currencies; d without any variant (its document built by hand, as a read does).
  await db.query(
    `INSERT INTO product_variants (product_id, sku, title, prices)
     SELECT id, 'SKU-' || id, 'Default', '[{"currency": "USD", "amountCents": 100}, {"currency": "EUR", "amountCents": 90}]'
       FROM products WHERE id = ANY ($1::integer[])`,
    [[a, b, c]]
  )
  await db.query('SELECT refresh_product_documents($1::integer[])', [[d]])
  const derived = async () =>
    (
      await db.query<{ product_id: number; n: number }>(
        `SELECT product_id, count(*)::integer AS n FROM (
           SELECT product_id FROM product_prices UNION ALL SELECT product_id FROM product_documents) x
          GROUP BY product_id ORDER BY product_id`
      )
    ).rows.map((r) => [r.product_id, r.n])
  assert.deepEqual(await derived(), [
    [a, 3],
    [b, 3],
    [c, 3],
    [d, 1]
  ])
  await db.query('DELETE FROM products WHERE id = ANY ($1::integer[])', [[a, d]])
  assert.deepEqual(await derived(), [
    [b, 3],
    [c, 3]
  ])
  // A product's delete inside a transaction that also rewrote its variant: nothing of it is left either.
  await db.query('BEGIN')
  await db.query(
    `UPDATE product_variants SET prices = '[{"currency": "GBP", "amountCents": 80}]' WHERE product_id = $1`,
    [b]
  )
  await db.query('DELETE FROM products WHERE id = $1', [b])
  await db.query('COMMIT')
  assert.deepEqual(await derived(), [[c, 3]])
})
