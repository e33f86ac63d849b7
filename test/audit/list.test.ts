import assert from 'node:assert/strict'
import { test } from 'node:test'
import { listEntriesQuery, type AuditFilter } from '../../src/modules/audit/repository.js'
import { apiKey, bearer, build } from '../helper.js'

const LIST = '/api/v1/audit-logs'

test('when the audit log is listed without a key, with an editor key and with an admin key, then 401, 403 and 200', async (t) => {
  const app = await build(t)
  assert.equal((await app.inject({ url: LIST })).statusCode, 401)
  const editor = await app.inject({ url: LIST, headers: bearer(await apiKey(app, 'editor')) })
  assert.equal(editor.statusCode, 403)
  assert.equal(editor.json().code, 'FORBIDDEN')
  assert.equal((await app.inject({ url: LIST, headers: bearer(await apiKey(app, 'admin')) })).statusCode, 200)
})

test('when the log is filtered by entity, action, actor, request id or time, then only matching entries come back, newest first', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  const editor = await apiKey(app, 'editor')
  const ids = (await app.db.primary.query<{ id: number; role: string }>('SELECT id, role FROM api_keys')).rows
  const editorId = ids.find((r) => r.role === 'editor')?.id
  const post = async (key: string, url: string, payload: object, requestId: string) => {
    const res = await app.inject({
      method: 'POST',
      url,
      headers: { ...bearer(key), 'x-request-id': requestId },
      payload
    })
    assert.equal(res.statusCode, 201, res.body)
    return res.json().data as { id: number; variants?: { id: number }[] }
  }
  const p1 = await post(
    editor,
    '/api/v1/products',
    { sku: 'F-1', name: 'One', priceCents: 1, currency: 'USD' },
    'req-p1'
  )
  const p2 = await post(
    admin,
    '/api/v1/products',
    { sku: 'F-2', name: 'Two', priceCents: 2, currency: 'USD' },
    'req-p2'
  )
  const c1 = await post(editor, '/api/v1/categories', { name: 'Filters' }, 'req-c1')
  const patched = await app.inject({
    method: 'PATCH',
    url: `/api/v1/products/${p1.id}`,
    headers: { ...bearer(admin), 'x-request-id': 'req-p1-up' },
    payload: { description: 'Updated' }
  })
  assert.equal(patched.statusCode, 200)

  const list = async (query: string) => {
    const res = await app.inject({ url: `${LIST}?${query}`, headers: bearer(admin) })
    assert.equal(res.statusCode, 200, res.body)
    return (res.json().data as { entityType: string; entityId: number; action: string; requestId: string }[]).map(
      (e) => `${e.entityType}:${e.entityId}:${e.action}:${e.requestId}`
    )
  }
  assert.deepEqual(await list(`entityType=product&entityId=${p1.id}`), [
    `product:${p1.id}:update:req-p1-up`,
    `product:${p1.id}:create:req-p1`
  ])
  assert.deepEqual(await list('entityType=category'), [`category:${c1.id}:create:req-c1`])
  assert.deepEqual(await list('action=update'), [`product:${p1.id}:update:req-p1-up`])
  // A create writes the product's entry, then one per variant.
  assert.deepEqual(await list(`actorId=${editorId}`), [
    `category:${c1.id}:create:req-c1`,
    `variant:${p1.variants?.[0]?.id}:create:req-p1`,
    `product:${p1.id}:create:req-p1`
  ])
  assert.deepEqual(await list('requestId=req-p2'), [
    `variant:${p2.variants?.[0]?.id}:create:req-p2`,
    `product:${p2.id}:create:req-p2`
  ])
  const all = (
    await app.db.primary.query<{ id: number; at: string }>(
      `SELECT id, to_json(occurred_at)#>>'{}' AS at FROM audit_log ORDER BY id`
    )
  ).rows
  const from = new Date(Date.parse(all.at(-2)?.at as string)).toISOString()
  const inRange = await list(`from=${from}`)
  assert.ok(inRange.includes(`product:${p1.id}:update:req-p1-up`))
  assert.ok(!inRange.some((e) => e.endsWith(':req-p1')))
  assert.deepEqual(await list(`to=${new Date(Date.parse(all[0]?.at as string)).toISOString()}`), [])

  const bad = await app.inject({ url: `${LIST}?entityId=1`, headers: bearer(admin) })
  assert.equal(bad.statusCode, 400)
  assert.equal(bad.json().errors[0].field, 'entityType')
  assert.equal((await app.inject({ url: `${LIST}?action=erase`, headers: bearer(admin) })).statusCode, 400)
})

test('when the log is walked page by page with the cursor, then every entry comes once, newest first, and a foreign cursor is refused', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  for (let i = 0; i < 7; i++) {
    await app.inject({
      method: 'POST',
      url: '/api/v1/categories',
      headers: bearer(admin),
      payload: { name: `Page ${i}` }
    })
  }
  const seen: number[] = []
  let url = `${LIST}?limit=3`
  for (;;) {
    const res = await app.inject({ url, headers: bearer(admin) })
    assert.equal(res.statusCode, 200)
    const body = res.json()
    seen.push(...body.data.map((e: { id: number }) => e.id))
    if (!body.pagination.hasMore) break
    assert.match(String(res.headers.link), /rel="next"/)
    url = `${LIST}?limit=3&cursor=${encodeURIComponent(body.pagination.cursor)}`
  }
  assert.deepEqual(seen, [8, 7, 6, 5, 4, 3, 2, 1])
  const productCursor = (await app.inject({ url: '/api/v1/categories?limit=1' })).json().pagination.cursor
  const res = await app.inject({ url: `${LIST}?cursor=${encodeURIComponent(productCursor)}`, headers: bearer(admin) })
  assert.equal(res.statusCode, 400)
  assert.equal(res.json().code, 'INVALID_CURSOR')
})

interface PlanNode {
  'Node Type': string
  'Relation Name'?: string
  'Index Name'?: string
  Plans?: PlanNode[]
}
const nodes = (plan: PlanNode): PlanNode[] => [plan, ...(plan.Plans ?? []).flatMap(nodes)]

test('when the log holds 200,000 analysed entries, then the planner answers a page of every filter from an index, never a sequential scan', async (t) => {
  const app = await build(t)
  // Real statistics, default planner settings: a year of entries spread over 3 entity types, 3 actions and 50 actors.
  await app.db.primary.query(`
    INSERT INTO audit_log (id, occurred_at, action, entity_type, entity_id, actor_type, actor_id, actor_name, request_id, changed_fields)
    SELECT g, now() - interval '365 days' + g * interval '157 seconds',
           (ARRAY['create','update','delete'])[1 + g % 3], (ARRAY['product','category','api_key'])[1 + (g % 20 = 0)::int + (g % 1000 = 0)::int],
           1 + g % 50000, 'api_key', 1 + g % 50, 'k', md5(g::text), '{}'
      FROM generate_series(1, 200000) g`)
  await app.db.primary.query('ANALYZE audit_log')
  const cases: AuditFilter[] = [
    {},
    { entityType: 'product', entityId: 4242 },
    { entityType: 'api_key' },
    { action: 'delete' },
    { actorId: 7 },
    { requestId: 'c4ca4238a0b923820dcc509a6f75849b' },
    {
      from: new Date(Date.now() - 40 * 86400_000).toISOString(),
      to: new Date(Date.now() - 39 * 86400_000).toISOString()
    },
    { actorId: 7, action: 'update', from: new Date(Date.now() - 100 * 86400_000).toISOString() }
  ]
  for (const filter of cases) {
    for (const after of [undefined, [new Date(Date.now() - 180 * 86400_000).toISOString(), 100000] as const]) {
      const { text, values } = listEntriesQuery(filter, after, 20)
      const { rows } = await app.db.primary.query(`EXPLAIN (FORMAT JSON) ${text}`, values)
      const plan = nodes(rows[0]['QUERY PLAN'][0].Plan as PlanNode)
      const scans = plan.filter((n) => n['Relation Name'] === 'audit_log')
      assert.ok(scans.length > 0)
      for (const scan of scans) {
        assert.match(
          scan['Node Type'],
          /Index/,
          `${JSON.stringify(filter)} after ${JSON.stringify(after)}: ${scan['Node Type']}`
        )
        assert.match(scan['Index Name'] ?? '', /^audit_log_/)
      }
    }
  }
})
