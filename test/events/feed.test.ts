import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ERRORS } from '../../src/errors.js'
import { eventType } from '../../src/writes/events.js'
import { apiKey, assertProblem, bearer, build } from '../helper.js'
import { eventsKey, feed } from './support.js'

test('when products and categories are created, changed, moved and deleted, then the feed holds one event per change in commit order, with data, changed fields, request id and actor', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  const reader = await eventsKey(app)
  const post = (url: string, payload: object) =>
    app.inject({
      method: 'POST',
      url,
      headers: { ...bearer(admin), 'x-request-id': `req-${url.split('/').at(-1)}` },
      payload
    })
  const parent = (await post('/api/v1/categories', { name: 'Parent' })).json().data
  const child = (await post('/api/v1/categories', { name: 'Child' })).json().data
  const product = (
    await post('/api/v1/products', { sku: 'EV-1', name: 'Lamp', priceCents: 100, currency: 'EUR' })
  ).json().data
  const patch = (url: string, payload: object) => app.inject({ method: 'PATCH', url, headers: bearer(admin), payload })
  assert.equal((await patch(`/api/v1/products/${product.id}`, { name: 'Desk lamp' })).statusCode, 200)
  const variant = product.variants[0]
  const stockPatch = await app.inject({
    method: 'PATCH',
    url: `/api/v1/products/${product.id}/variants/${variant.id}`,
    headers: { ...bearer(admin), 'if-match': `"${variant.id}.${variant.version}"` },
    payload: { stock: 7 }
  })
  assert.equal(stockPatch.statusCode, 200, stockPatch.body)
  assert.equal((await patch(`/api/v1/categories/${child.id}`, { parentId: parent.id })).statusCode, 200)
  const del = await app.inject({ method: 'DELETE', url: `/api/v1/products/${product.id}`, headers: bearer(admin) })
  assert.equal(del.statusCode, 204)
  // A new key is audited but is no catalog event.
  await apiKey(app, 'editor')
  await app.audit.seal()

  const page = await feed(app, reader, 'limit=100')
  assert.deepEqual(
    page.data.map((e) => [e.type, e.entity.type, e.entity.id]),
    [
      ['category.created', 'category', parent.id],
      ['category.created', 'category', child.id],
      ['product.created', 'product', product.id],
      ['variant.created', 'variant', variant.id],
      ['product.updated', 'product', product.id],
      ['variant.stock_changed', 'variant', variant.id],
      ['category.moved', 'category', child.id],
      ['product.deleted', 'product', product.id]
    ]
  )
  const ids = page.data.map((e) => e.id)
  assert.deepEqual(
    ids,
    [...ids].sort((a, b) => a - b),
    'ids increase'
  )
  assert.equal(page.nextCursor, ids.at(-1))
  const [, , created, variantCreated, renamed, stocked, moved, deleted] = page.data
  assert.equal(created?.data?.name, 'Lamp')
  assert.equal(created?.requestId, 'req-products')
  // The product's variant is an entity of its own, created in the same request.
  assert.equal(variantCreated?.data?.sku, 'EV-1')
  assert.equal(variantCreated?.requestId, 'req-products')
  assert.deepEqual(created?.actor, { type: 'api_key', id: created?.actor.id, name: 'test-admin', role: 'admin' })
  assert.deepEqual(renamed?.changedFields, ['name'])
  assert.equal(renamed?.data?.name, 'Desk lamp')
  assert.deepEqual(stocked?.changedFields, ['stock'])
  assert.equal(stocked?.data?.stock, 7)
  assert.deepEqual(moved?.changedFields, ['parentId'])
  assert.equal(moved?.data?.parentId, parent.id)
  // A delete carries the representation before it.
  assert.equal(deleted?.data?.name, 'Desk lamp')

  const after = await feed(app, reader, `after=${page.nextCursor}`)
  assert.deepEqual(after.data, [])
  assert.equal(after.nextCursor, page.nextCursor)
})

test('when event types are derived, then any entity type gets created/updated/deleted, stock_changed when stock changed, and category.moved', () => {
  assert.equal(eventType('variant', 'update', ['priceCents']), 'variant.updated')
  assert.equal(eventType('variant', 'update', ['name', 'stock']), 'variant.stock_changed')
  assert.equal(eventType('product', 'update', ['stock']), 'product.stock_changed')
  assert.equal(eventType('price', 'create', []), 'price.created')
  assert.equal(eventType('media', 'delete', []), 'media.deleted')
  assert.equal(eventType('category', 'update', ['parentId']), 'category.moved')
  assert.equal(eventType('category', 'update', ['name']), 'category.updated')
})

test('when the feed is filtered by types, then only those types (or all of an entity with product.*) come back, and the cursor still moves by position', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  const reader = await eventsKey(app)
  const c = await app.inject({
    method: 'POST',
    url: '/api/v1/categories',
    headers: bearer(admin),
    payload: { name: 'A' }
  })
  const p = await app.inject({
    method: 'POST',
    url: '/api/v1/products',
    headers: bearer(admin),
    payload: { sku: 'F-1', name: 'F', priceCents: 1, currency: 'EUR', categoryId: c.json().data.id }
  })
  const v = p.json().data.variants[0]
  await app.inject({
    method: 'PATCH',
    url: `/api/v1/products/${p.json().data.id}/variants/${v.id}`,
    headers: { ...bearer(admin), 'if-match': `"${v.id}.${v.version}"` },
    payload: { stock: 3 }
  })
  await app.audit.seal()
  const stock = await feed(app, reader, 'types=variant.stock_changed')
  assert.deepEqual(
    stock.data.map((e) => e.type),
    ['variant.stock_changed']
  )
  const products = await feed(app, reader, 'types=product.*,category.deleted')
  assert.deepEqual(
    products.data.map((e) => e.type),
    ['product.created']
  )
  const variants = await feed(app, reader, 'types=variant.*')
  assert.deepEqual(
    variants.data.map((e) => e.type),
    ['variant.created', 'variant.stock_changed']
  )
  const bad = await app.inject({ method: 'GET', url: '/api/v1/events?types=product', headers: bearer(reader) })
  assertProblem(bad, 400, 'VALIDATION_FAILED')
  assert.ok(
    bad.json().errors.some((e: { field: string }) => e.field.includes('types')),
    bad.body
  )
  const badAfter = await app.inject({ method: 'GET', url: '/api/v1/events?after=x1', headers: bearer(reader) })
  assertProblem(badAfter, 400, 'VALIDATION_FAILED')
  assert.ok(
    badAfter.json().errors.some((e: { field: string }) => e.field.includes('after')),
    badAfter.body
  )
  const badWait = await app.inject({ method: 'GET', url: '/api/v1/events?wait=31', headers: bearer(reader) })
  assertProblem(badWait, 400, 'VALIDATION_FAILED')
})

test('when a key with the events role reads the feed, then it may; it may not write, and an editor may not read the feed', async (t) => {
  const app = await build(t)
  const reader = await eventsKey(app)
  const editor = await apiKey(app, 'editor')
  assert.equal((await app.inject({ method: 'GET', url: '/api/v1/events', headers: bearer(reader) })).statusCode, 200)
  assertProblem(await app.inject({ method: 'GET', url: '/api/v1/events', headers: bearer(editor) }), 403, 'FORBIDDEN')
  assertProblem(await app.inject({ method: 'GET', url: '/api/v1/events' }), 401, 'UNAUTHORIZED')
  const write = await app.inject({
    method: 'POST',
    url: '/api/v1/products',
    headers: bearer(reader),
    payload: { sku: 'NO', name: 'No', priceCents: 1, currency: 'EUR' }
  })
  assertProblem(write, 403, 'FORBIDDEN')
})

test('when events are older than EVENT_RETENTION_DAYS, then retention removes them but not their audit entries, and a cursor before them answers 410 naming the oldest position', async (t) => {
  const app = await build(t, { EVENT_RETENTION_DAYS: '7', AUDIT_RETENTION_DAYS: '365' })
  const admin = await apiKey(app, 'admin')
  const reader = await eventsKey(app)
  for (const name of ['Old 1', 'Old 2', 'New 1'])
    await app.inject({ method: 'POST', url: '/api/v1/categories', headers: bearer(admin), payload: { name } })
  await app.audit.seal()
  const all = await feed(app, reader, '')
  assert.equal(all.data.length, 3)
  const [old1, old2, new1] = all.data
  await app.db.primary.query(`UPDATE events SET occurred_at = now() - interval '8 days' WHERE position <= $1`, [
    old2?.id
  ])
  // A finished webhook delivery as old goes too; a pending one stays (its next attempt is an hour away, so the
  // dispatcher of this app does not try it meanwhile).
  const hook = await app.db.primary.query<{ id: number }>(
    `INSERT INTO webhooks (url, event_types, secret) VALUES ('https://93.184.216.34/', '{*}', 'whsec_x') RETURNING id`
  )
  await app.db.primary.query(
    `INSERT INTO webhook_deliveries (webhook_id, event_position, event_type, entity_key, event, status, created_at,
                                     next_attempt_at)
     VALUES ($1, 1, 'category.created', 'category:1', '{}', 'delivered', now() - interval '8 days', now()),
            ($1, 2, 'category.created', 'category:2', '{}', 'pending', now() - interval '8 days',
             now() + interval '1 hour')`,
    [hook.rows[0]?.id]
  )
  const auditBefore = (await app.db.primary.query('SELECT count(*)::int AS n FROM audit_log')).rows[0].n
  assert.equal(await app.events.runRetention(), 2)

  const gone = await app.inject({ method: 'GET', url: `/api/v1/events?after=${old1?.id}`, headers: bearer(reader) })
  const problem = assertProblem(gone, ERRORS.CURSOR_EXPIRED.status, 'CURSOR_EXPIRED')
  assert.equal(problem.oldestAvailableAfter, old2?.id)
  assert.match(problem.detail, new RegExp(`after=${old2?.id}`))
  const resumed = await feed(app, reader, `after=${old2?.id}`)
  assert.deepEqual(
    resumed.data.map((e) => e.id),
    [new1?.id]
  )
  // Without a cursor the feed starts at the oldest kept event.
  assert.deepEqual(
    (await feed(app, reader, '')).data.map((e) => e.id),
    [new1?.id]
  )
  const auditAfter = (await app.db.primary.query('SELECT count(*)::int AS n FROM audit_log')).rows[0].n
  assert.equal(auditAfter, auditBefore, 'the audit trail keeps its entries')
  const left = await app.db.primary.query<{ status: string }>('SELECT status FROM webhook_deliveries')
  assert.deepEqual(
    left.rows.map((r) => r.status),
    ['pending']
  )
})

test('when EVENTS_ENABLED is false, then writes are audited and sealed but record no events', async (t) => {
  const app = await build(t, { EVENTS_ENABLED: 'false' })
  const admin = await apiKey(app, 'admin')
  const reader = await eventsKey(app)
  await app.inject({ method: 'POST', url: '/api/v1/categories', headers: bearer(admin), payload: { name: 'Quiet' } })
  await app.audit.seal()
  const sealed = await app.db.primary.query(
    `SELECT count(*)::int AS n FROM audit_chain c JOIN audit_log a ON a.id = c.entry_id WHERE a.entity_type = 'category'`
  )
  assert.equal(sealed.rows[0].n, 1)
  assert.deepEqual((await feed(app, reader, '')).data, [])
})
