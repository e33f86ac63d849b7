import assert from 'node:assert/strict'
import { test } from 'node:test'
import { connect, createTestDatabase } from '../helper.js'

// A variant's product is checked once per statement by a trigger (migration 015), not by a foreign key: the same
// answers, the same locks, the same cascade.

const FK = { code: '23503', constraint: 'product_variants_product_id_fkey' }

async function catalog(t: Parameters<typeof createTestDatabase>[0]) {
  const target = await createTestDatabase(t)
  const [a, b] = [await connect(t, target), await connect(t, target)]
  await a.query(
    `INSERT INTO products (id, name, slug) OVERRIDING SYSTEM VALUE VALUES (1, 'One', 'one'), (2, 'Two', 'two')`
  )
  await a.query(
    `INSERT INTO product_variants (product_id, sku, title, option_values, prices) VALUES
       (1, 'ONE-A', 'A', '{a}', '[{"currency": "USD", "amountCents": 100}]'),
       (2, 'TWO-A', 'A', '{a}', '[{"currency": "EUR", "amountCents": 200}]')`
  )
  // The documents follow a product's update (migration 010).
  await a.query('UPDATE products SET version = version + 1')
  return { a, b }
}

const count = async (q: Awaited<ReturnType<typeof catalog>>['a'], sql: string) =>
  Number((await q.query<{ n: string }>(`SELECT count(*) AS n FROM ${sql}`)).rows[0]?.n)

test('when variants name a product that does not exist, then the statement fails as the foreign key did and writes nothing', async (t) => {
  const { a } = await catalog(t)
  await assert.rejects(
    a.query(
      `INSERT INTO product_variants (product_id, sku, title, option_values) VALUES
         (1, 'ONE-B', 'B', '{b}'), (9, 'NINE-A', 'A', '{a}'), (7, 'SEVEN-A', 'A', '{a}')`
    ),
    (err: Error & { detail?: string }) => {
      assert.equal((err as unknown as { code: string }).code, FK.code)
      assert.equal((err as unknown as { constraint: string }).constraint, FK.constraint)
      assert.equal(err.detail, 'Key (product_id)=(7) is not present in table "products".')
      return true
    }
  )
  assert.equal(await count(a, "product_variants WHERE sku = 'ONE-B'"), 0)
  await assert.rejects(a.query("UPDATE product_variants SET product_id = 8 WHERE sku = 'ONE-A'"), FK)
  await a.query("UPDATE product_variants SET product_id = 2, option_values = '{b}' WHERE sku = 'ONE-A'")
  assert.equal(await count(a, 'product_variants WHERE product_id = 2'), 2)
})

test('when a product is deleted or the products are truncated, then its variants and what derives from them go with it', async (t) => {
  const { a } = await catalog(t)
  assert.equal(await count(a, 'product_documents'), 2)
  await a.query('DELETE FROM products WHERE id = 2')
  assert.equal(await count(a, 'product_variants WHERE product_id = 2'), 0)
  assert.equal(await count(a, 'product_prices WHERE product_id = 2'), 0)
  assert.equal(await count(a, 'product_documents WHERE product_id = 2'), 0)
  assert.equal(await count(a, 'product_variants WHERE product_id = 1'), 1)
  await a.query('TRUNCATE products CASCADE')
  assert.equal(await count(a, 'product_variants'), 0)
  assert.equal(await count(a, 'product_prices'), 0)
  assert.equal(await count(a, 'product_documents'), 0)
})

test('when a product is deleted while a transaction adds a variant to it, then whichever came second waits and the catalog keeps no orphan', async (t) => {
  const { a, b } = await catalog(t)
  // A variant added first: the delete waits for its transaction, then removes the variant with the product.
  await a.query('BEGIN')
  await a.query("INSERT INTO product_variants (product_id, sku, title, option_values) VALUES (1, 'ONE-B', 'B', '{b}')")
  let deleted = false
  const deleting = b.query('DELETE FROM products WHERE id = 1').then(() => (deleted = true))
  await new Promise((resolve) => setTimeout(resolve, 300))
  assert.equal(deleted, false, 'the delete waits for the transaction that added a variant')
  await a.query('COMMIT')
  await deleting
  assert.equal(await count(a, 'product_variants WHERE product_id = 1'), 0)

  // A delete first: the variant's statement waits for it, then finds the product gone.
  await b.query('BEGIN')
  await b.query('DELETE FROM products WHERE id = 2')
  // Its answer is taken at once: it may come before the COMMIT's.
  const adding = a
    .query("INSERT INTO product_variants (product_id, sku, title, option_values) VALUES (2, 'TWO-B', 'B', '{b}')")
    .then(
      () => null,
      (err: unknown) => err
    )
  await new Promise((resolve) => setTimeout(resolve, 300))
  await b.query('COMMIT')
  const err = (await adding) as { code?: string; constraint?: string } | null
  assert.deepEqual({ code: err?.code, constraint: err?.constraint }, FK)
  assert.equal(await count(a, 'product_variants'), 0)
})
