import assert from 'node:assert/strict'
import { test } from 'node:test'
import pg from 'pg'
import { withTransaction } from '../../src/db/pool.js'
import { type Candidate, upsertBatch } from '../../src/modules/bulk/upsert.js'
import { systemContext } from '../../src/writes/mutation.js'
import { createTestDatabase, defer } from '../helper.js'

const TABLES = ['categories', 'product_documents', 'product_prices', 'product_variants', 'products']

const newProduct = (i: number): Candidate => ({
  line: i + 1,
  slug: `new-${i}`,
  input: {
    name: `New ${i}`,
    slug: `new-${i}`,
    categoryId: 1,
    options: [{ name: 'Size', values: ['S', 'M', 'L', 'XL'] }],
    variants: ['S', 'M', 'L', 'XL'].map((s) => ({
      sku: `NEW-${i}-${s}`,
      optionValues: [s],
      prices: [{ currency: 'USD', amountCents: 1999 }]
    }))
  }
})

test('when an import batch writes into a catalog without planner statistics, then it reads no table whole', async (t) => {
  const pool = new pg.Pool({ ...(await createTestDatabase(t)), max: 1 })
  defer(t, () => pool.end())
  // A catalog of 5,000 products and 20,000 variants, never analyzed (as while an import fills a new one, before
  // autovacuum has run, or where it does not).
  await pool.query(
    `INSERT INTO categories (id, name, slug) OVERRIDING SYSTEM VALUE VALUES (1, 'Tees', 'tees');
     INSERT INTO products (name, slug) SELECT 'P' || i, 'p-' || i FROM generate_series(1, 5000) AS i;
     INSERT INTO product_variants (product_id, sku, title, option_values, prices)
     SELECT p.id, 'SKU-' || p.id || '-' || k, 'V' || k, ARRAY['V' || k], '[{"currency": "USD", "amountCents": 100}]'
       FROM products p CROSS JOIN generate_series(1, 4) AS k`
  )
  const counts = await withTransaction(pool, async (tx) => {
    const scans = async () =>
      (
        await tx.query<{ relname: string; seq_scan: number }>(
          `SELECT relname, seq_scan::integer FROM pg_stat_xact_user_tables WHERE relname = ANY($1) ORDER BY relname`,
          [TABLES]
        )
      ).rows
    const before = await scans()
    const outcomes = await upsertBatch(
      tx,
      Array.from({ length: 500 }, (_, i) => newProduct(i)),
      systemContext('test'),
      { dryRun: false }
    )
    assert.deepEqual(
      outcomes.map((o) => o.kind),
      Array(500).fill('created')
    )
    const after = await scans()
    return after.map((r, i) => [r.relname, r.seq_scan - (before[i]?.seq_scan ?? 0)])
  })
  assert.deepEqual(
    counts,
    TABLES.map((name) => [name, 0])
  )
})
