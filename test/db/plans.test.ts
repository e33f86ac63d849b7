import assert from 'node:assert/strict'
import { test } from 'node:test'
import pg from 'pg'
import { prepared, withTransaction } from '../../src/db/pool.js'
import { listProducts, type ProductFilter } from '../../src/modules/products/repository.js'
import { connect, createTestDatabase, defer } from '../helper.js'

// PostgreSQL's own count of how each of this connection's prepared statements was planned.
const plansOf = async (db: Awaited<ReturnType<typeof connect>>, like: string) =>
  (
    await db.query<{ generic_plans: number; custom_plans: number }>(
      `SELECT generic_plans::integer, custom_plans::integer FROM pg_prepared_statements
        WHERE NOT from_sql AND statement LIKE $1`,
      [like]
    )
  ).rows

test('when the same list page is read again and again on one connection, then PostgreSQL keeps one plan for it instead of planning every read', async (t) => {
  const db = await connect(t, await createTestDatabase(t))
  await db.query(
    // Mostly active, as a shop's catalog is: the page's own status is then most of the table, the others a few.
    `INSERT INTO categories (name, slug) SELECT 'C' || i, 'c-' || i FROM generate_series(1, 50) AS i;
     INSERT INTO products (name, slug, status, category_id)
     SELECT 'P' || i, 'p-' || i,
            (CASE WHEN i % 10 = 0 THEN 'draft' WHEN i % 25 = 0 THEN 'archived' ELSE 'active' END)::product_status,
            (SELECT min(id) FROM categories) + i % 50
       FROM generate_series(1, 20000) AS i;
     INSERT INTO product_variants (product_id, sku, title, prices)
     SELECT id, 'SKU-' || id, 'Default',
            -- Every product priced in USD and EUR, every third in GBP as well.
            jsonb_build_array(jsonb_build_object('currency', 'USD', 'amountCents', 100 + id * 7919 % 10000),
                              jsonb_build_object('currency', 'EUR', 'amountCents', 90 + id * 7919 % 10000))
              || CASE WHEN id % 3 = 0 THEN jsonb_build_array(jsonb_build_object('currency', 'GBP', 'amountCents', 80 + id % 5000))
                      ELSE '[]'::jsonb END
       FROM products;
     ANALYZE`
  )
  const reads = 12
  for (let i = 0; i < reads; i++) {
    const rows = await listProducts(db, { status: 'active', currency: 'USD' }, 'newest', undefined, 20)
    assert.equal(rows.length, 21)
  }
  // A page deep into the prices: with the cursor's values as parameters, every read of it was planned again.
  const [deep] = (
    await db.query<{ min_cents: number; product_id: number }>(
      `SELECT min_cents, product_id FROM product_prices WHERE currency = 'USD' AND status = 'active'
        ORDER BY min_cents, product_id OFFSET 2000 LIMIT 1`
    )
  ).rows
  assert.ok(deep)
  for (let i = 0; i < reads; i++) {
    const rows = await listProducts(
      db,
      { status: 'active', currency: 'USD' },
      'price',
      [deep.min_cents, deep.product_id],
      20
    )
    assert.equal(rows.length, 21)
  }
  // A category's page by price: with the category and currency as parameters, every read of it was planned again.
  const [category] = (await db.query<{ id: number }>('SELECT min(id) + 7 AS id FROM categories')).rows
  assert.ok(category)
  const inCategory: ProductFilter = { status: 'active', currency: 'USD', categoryIds: [category.id] }
  for (let i = 0; i < reads; i++) assert.equal((await listProducts(db, inCategory, 'price', undefined, 20)).length, 21)
  const everyStatus = 8
  for (let i = 0; i < everyStatus; i++)
    assert.equal((await listProducts(db, { currency: 'USD' }, 'name', undefined, 20)).length, 21)

  // PostgreSQL tries a plan per value five times, then keeps the plan for any value when it costs about the same.
  // With the page size as a parameter that plan is costed for a tenth of the table and never kept; with the status
  // as one, the plan for 'active' (most of the table) beats the estimate of the one for any status, every time.
  const [page] = await plansOf(db, '%WHERE status = % ORDER BY created_at DESC%')
  assert.ok(page, 'the page was read through a prepared statement')
  assert.equal(page.generic_plans + page.custom_plans, reads)
  assert.ok(page.generic_plans >= reads - 6, `kept plan used ${page.generic_plans} of ${reads} times`)
  const priced = await plansOf(db, '%ORDER BY min_cents ASC%')
  assert.equal(priced.length, 2, 'the price-sorted pages were read through prepared statements')
  for (const plans of priced)
    assert.ok(plans.generic_plans >= reads - 6, `kept plan used ${plans.generic_plans} of ${reads} times`)
  // A page filtered by tags keeps its page size a parameter: the plan is PostgreSQL's choice per run, as before, never
  // one kept for any tag (which could walk every product for a rare one).
  await listProducts(db, { status: 'active', currency: 'USD', tags: ['rare'] }, 'newest', undefined, 20)
  const { rows: tagged } = await db.query<{ statement: string }>(
    "SELECT statement FROM pg_prepared_statements WHERE NOT from_sql AND statement LIKE '%tags @>%'"
  )
  assert.equal(tagged.length, 1)
  assert.match(tagged[0]?.statement ?? '', /LIMIT \$\d+$/)
  const [merged] = await plansOf(db, '%enum_range(NULL::product_status)%')
  assert.ok(merged, 'the every-status page was read through a prepared statement')
  assert.ok(merged.generic_plans >= everyStatus - 6, `kept plan used ${merged.generic_plans} of ${everyStatus} times`)
})

test('when the write path keeps product_prices and the product documents, then its functions are PL/pgSQL that keep one plan for any set of products', async (t) => {
  const db = await connect(t, await createTestDatabase(t))
  // A SQL function of several statements is parsed and planned at every call; an array parameter makes the
  // default plan_cache_mode plan every call again too (see migration 011).
  const { rows } = await db.query<{ proname: string; lang: string; config: string[] | null }>(
    `SELECT p.proname, l.lanname AS lang, p.proconfig AS config FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
      WHERE p.proname IN ('refresh_product_prices', 'product_documents_of') ORDER BY p.proname`
  )
  assert.deepEqual(
    rows.map((r) => [r.proname, r.lang, (r.config ?? []).includes('plan_cache_mode=force_generic_plan')]),
    [
      ['product_documents_of', 'plpgsql', true],
      ['refresh_product_prices', 'plpgsql', true]
    ]
  )
})

test('when a connection first wrote to an empty catalog, then once the catalog has grown its writes still reach products by key, not by reading whole tables', async (t) => {
  const db = await connect(t, await createTestDatabase(t))
  // The first write of this connection: the trigger functions make the plans they keep while the tables are empty.
  const write = async (n: number) => {
    const { rows } = await db.query<{ id: number }>(
      `INSERT INTO products (name, slug) VALUES ('New ${n}', 'new-${n}') RETURNING id`
    )
    await db.query(
      `INSERT INTO product_variants (product_id, sku, title, prices)
       VALUES ($1, 'NEW-${n}', 'Default', '[{"currency": "USD", "amountCents": 1999}]')`,
      [rows[0]?.id]
    )
    await db.query(
      `UPDATE product_variants SET prices = '[{"currency": "EUR", "amountCents": 1}]' WHERE sku = 'NEW-${n}'`
    )
    await db.query('UPDATE products SET version = version + 1 WHERE id = $1', [rows[0]?.id])
  }
  await write(1)
  // Grown without ANALYZE (as during an import before autovacuum runs) and without DDL: the kept plans stay.
  await db.query(
    `INSERT INTO products (name, slug) SELECT 'P' || i, 'p-' || i FROM generate_series(1, 20000) AS i;
     INSERT INTO product_variants (product_id, sku, title, prices)
     SELECT id, 'SKU-' || id, 'Default', '[{"currency": "USD", "amountCents": 100}]' FROM products WHERE slug LIKE 'p-%'`
  )
  await db.query('BEGIN')
  const scans = () =>
    db.query<{ relname: string; seq_scan: number }>(
      `SELECT relname, seq_scan::integer FROM pg_stat_xact_user_tables
        WHERE relname IN ('products', 'product_variants', 'product_prices', 'product_documents') ORDER BY relname`
    )
  const before = await scans()
  await write(2)
  const after = await scans()
  await db.query('COMMIT')
  assert.deepEqual(
    after.rows.map((r, i) => [r.relname, r.seq_scan - (before.rows[i]?.seq_scan ?? 0)]),
    [
      ['product_documents', 0],
      ['product_prices', 0],
      ['product_variants', 0],
      ['products', 0]
    ]
  )
  // And the derived rows are right: the variant's new price, and the product's document.
  const { rows } = await db.query<{ currency: string; min_cents: number; documents: number }>(
    `SELECT pp.currency, pp.min_cents, (SELECT count(*)::integer FROM product_documents d WHERE d.product_id = p.id) AS documents
       FROM products p JOIN product_prices pp ON pp.product_id = p.id WHERE p.slug = 'new-2'`
  )
  assert.deepEqual(rows, [{ currency: 'EUR', min_cents: 1, documents: 1 }])
})

test('when a write transaction sends a prepared statement after its first one, then PostgreSQL keeps its plan instead of planning every write', async (t) => {
  const target = await createTestDatabase(t)
  // One connection, so every transaction and the check below see the same session's prepared statements.
  const pool = new pg.Pool({ ...target, max: 1 })
  defer(t, () => pool.end())
  await pool.query(
    `INSERT INTO products (name, slug) SELECT 'P' || i, 'p-' || i FROM generate_series(1, 100) AS i; ANALYZE products`
  )
  const writes = 12
  for (let i = 0; i < writes; i++) {
    await withTransaction(pool, async (tx) => {
      // The first statement travels with BEGIN as text; the second is the prepared one.
      await tx.query('SELECT id FROM products WHERE id = $1 FOR UPDATE', [1 + i])
      await tx.query(prepared('UPDATE products SET version = version + 1 WHERE id = $1 RETURNING version'), [1 + i])
    })
  }
  const { rows } = await pool.query<{ generic_plans: number; custom_plans: number }>(
    `SELECT generic_plans::integer, custom_plans::integer FROM pg_prepared_statements
      WHERE NOT from_sql AND statement LIKE 'UPDATE products SET version = version + 1%'`
  )
  const [update] = rows
  assert.ok(update, 'the UPDATE went as a prepared statement')
  assert.equal(update.generic_plans + update.custom_plans, writes)
  assert.ok(update.generic_plans >= writes - 6, `kept plan used ${update.generic_plans} of ${writes} times`)
})
