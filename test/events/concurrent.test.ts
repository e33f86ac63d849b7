import assert from 'node:assert/strict'
import { test } from 'node:test'
import { withTransaction } from '../../src/db/pool.js'
import type { Queryable } from '../../src/db/pool.js'
import { created, mutate, systemContext, type Transactor, updated } from '../../src/writes/mutation.js'
import { apiKey, bearer, build, createTestDatabase, type TestApp } from '../helper.js'
import { eventsKey, feed } from './support.js'
import type { ChangeEventOut } from '../../src/modules/events/schemas.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

class RolledBack extends Error {}

/**
 * A transactor that, after the change and its audit entry (whose id is then taken), waits a random time inside the
 * transaction before it commits, or rolls back: entries commit in another order than their ids were taken.
 */
const slowTransactor = (app: TestApp, rollback: boolean): Transactor => ({
  sendsCommitTail: false,
  transaction: (fn) =>
    withTransaction(app.db.primary, async (tx) => {
      const result = await fn(tx)
      await sleep(Math.random() * 40)
      if (rollback) throw new RolledBack()
      return result
    })
})

type VariantRow = { id: number; sku: string; stock: number }

/** A product with its one variant; the variant's audit entry (and so its event) carries the SKU. */
async function createProduct(tx: Queryable, sku: string) {
  const { rows: products } = await tx.query<{ id: number }>(
    'INSERT INTO products (name, slug) VALUES ($1, lower($1)) RETURNING id',
    [sku]
  )
  const { rows } = await tx.query<VariantRow>(
    `INSERT INTO product_variants (product_id, sku, title, prices)
     VALUES ($1, $2, 'Default', '[{"currency": "EUR", "amountCents": 1}]') RETURNING id, sku, stock`,
    [products[0]?.id, sku]
  )
  return created('variant', rows[0] as VariantRow)
}

async function addStock(tx: Queryable, id: number) {
  const { rows } = await tx.query<VariantRow>(
    'UPDATE product_variants SET stock = stock + 1 WHERE id = $1 RETURNING id, sku, stock',
    [id]
  )
  const after = rows[0] as VariantRow
  const before = { ...after, stock: after.stock - 1 }
  return updated('variant', before, after)
}

test('when 32 writers on 3 instances commit in another order than they began (random delays inside their transactions, some rolled back) while a consumer follows the feed, then it sees every committed change exactly once, per-entity in commit order, and nothing of a rollback', async (t) => {
  const target = await createTestDatabase(t)
  const env = { DB_POOL_MAX: '12', CACHE_ENABLED: 'false', AUDIT_SEAL_INTERVAL_MS: '100' }
  const apps = [await build(t, env, target), await build(t, env, target), await build(t, env, target)]
  const [first, , consumerApp] = apps as [TestApp, TestApp, TestApp]
  const reader = await eventsKey(first)
  const ctx = (app: TestApp) => ({ ...systemContext('writer'), onAudited: () => void app.audit.seal().catch(() => {}) })

  const hot: number[] = []
  for (let i = 0; i < 4; i++)
    hot.push((await mutate(slowTransactor(first, false), ctx(first), (tx) => createProduct(tx, `HOT-${i}`))).id)

  // The consumer follows from the start of the feed with long polls, on an instance that writes nothing.
  const seen: ChangeEventOut[] = []
  let cursor = 0
  let writing = true
  const follow = (async () => {
    for (;;) {
      const page = await feed(consumerApp, reader, `after=${cursor}&limit=50&wait=2`)
      seen.push(...page.data)
      cursor = page.nextCursor
      if (!writing && page.data.length === 0) return
    }
  })()

  const committedSkus = new Set<string>(hot.map((_, i) => `HOT-${i}`))
  const rolledBackSkus = new Set<string>()
  const committedIncrements = new Map<number, number>(hot.map((id) => [id, 0]))
  const writer = async (w: number) => {
    const app = apps[w % apps.length] as TestApp
    for (let n = 0; n < 6; n++) {
      const rollback = Math.random() < 0.2
      try {
        if (n % 2 === 0) {
          const sku = `W${w}-${n}${rollback ? '-RB' : ''}`
          await mutate(slowTransactor(app, rollback), ctx(app), (tx) => createProduct(tx, sku))
          committedSkus.add(sku)
        } else {
          const id = hot[(w + n) % hot.length] as number
          await mutate(slowTransactor(app, rollback), ctx(app), (tx) => addStock(tx, id))
          committedIncrements.set(id, (committedIncrements.get(id) ?? 0) + 1)
        }
      } catch (err) {
        if (!(err instanceof RolledBack)) throw err
        if (n % 2 === 0) rolledBackSkus.add(`W${w}-${n}-RB`)
      }
    }
  }
  await Promise.all(Array.from({ length: 32 }, (_, w) => writer(w)))
  for (const app of apps) await app.audit.seal()
  writing = false
  await follow

  // Exactly once: no id twice, and the events are the committed changes, no more, no less.
  const ids = seen.map((e) => e.id)
  assert.equal(new Set(ids).size, ids.length, 'no event is delivered twice')
  assert.deepEqual(
    ids,
    [...ids].sort((a, b) => a - b),
    'the feed is in position order'
  )
  const createdSkus = seen.filter((e) => e.type === 'variant.created').map((e) => String(e.data?.sku))
  assert.deepEqual(new Set(createdSkus), committedSkus)
  assert.equal(createdSkus.length, committedSkus.size)
  for (const sku of rolledBackSkus) assert.ok(!createdSkus.includes(sku), `rolled back ${sku} has no event`)
  // Per entity in commit order: each hot variant's stock events count 1, 2, 3, … without a gap or repeat.
  for (const id of hot) {
    const stocks = seen
      .filter((e) => e.type === 'variant.stock_changed' && e.entity.id === id)
      .map((e) => Number(e.data?.stock))
    const n = committedIncrements.get(id) ?? 0
    assert.deepEqual(
      stocks,
      Array.from({ length: n }, (_, i) => i + 1),
      `stock events of variant ${id}`
    )
  }
  const { rows } = await first.db.primary.query<{ n: number }>('SELECT count(*)::int AS n FROM events')
  assert.equal(seen.length, rows[0]?.n)
  // The run did what it is meant to test: some entries committed after entries with higher ids, i.e. a
  // consumer reading "id > last id seen" would have skipped them.
  const { rows: late } = await first.db.primary.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM events a JOIN events b ON a.position < b.position AND a.entry_id > b.entry_id`
  )
  assert.ok((late[0]?.n ?? 0) > 0, 'some transactions committed out of id order')
  assert.ok(rolledBackSkus.size > 0, 'some writes were rolled back')
})

test('when a consumer long-polls one instance and a change is committed through another, then the waiting request returns that event', async (t) => {
  const target = await createTestDatabase(t)
  const writerApp = await build(t, {}, target)
  // This instance never seals: it learns of the new event only from the other instance's notification.
  const consumerApp = await build(t, { AUDIT_SEAL_INTERVAL_MS: '0' }, target)
  const admin = await apiKey(writerApp, 'admin')
  const reader = await eventsKey(writerApp)
  const start = await feed(consumerApp, reader, '')
  const waiting = feed(consumerApp, reader, `after=${start.nextCursor}&wait=30`)
  await sleep(200)
  const res = await writerApp.inject({
    method: 'POST',
    url: '/api/v1/products',
    headers: bearer(admin),
    payload: { sku: 'LP-1', name: 'Long poll', priceCents: 5, currency: 'EUR' }
  })
  assert.equal(res.statusCode, 201)
  const page = await waiting
  const product = res.json().data as { id: number; variants: { id: number }[] }
  assert.deepEqual(
    page.data.map((e) => [e.type, e.entity.id]),
    [
      ['product.created', product.id],
      ['variant.created', product.variants[0]?.id]
    ]
  )
})
