import assert from 'node:assert/strict'
import { test } from 'node:test'
import pino from 'pino'
import { loadConfig } from '../../src/config.js'
import { prepareDatabase } from '../../src/bootstrap.js'
import { hashKey } from '../../src/modules/api-keys/repository.js'
import { apiKey, bearer, build, count } from '../helper.js'
import { auditRows, dbEnv, runScript } from './support.js'

const product = (sku: string) => ({ sku, name: `Lamp ${sku}`, priceCents: 1999, currency: 'USD' })

test('when products, categories and API keys are created, updated and deleted over HTTP, then each change has one entry with actor, client and values', async (t) => {
  const app = await build(t, { TRUST_PROXY: '1' })
  const admin = await apiKey(app, 'admin')
  const [adminRow] = (await app.db.primary.query<{ id: number }>('SELECT id FROM api_keys ORDER BY id DESC LIMIT 1'))
    .rows
  const before = (await auditRows(app)).length
  const headers = {
    ...bearer(admin),
    'user-agent': 'audit-test/1.0',
    'x-forwarded-for': '203.0.113.7',
    'x-request-id': 'req-audit-1'
  }
  const send = async (method: 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) => {
    const res = await app.inject({ method, url, headers, ...(payload ? { payload } : {}) })
    assert.ok(res.statusCode < 300, `${method} ${url}: ${res.statusCode} ${res.body}`)
    return res.statusCode === 204 ? undefined : res.json().data
  }

  const category = await send('POST', '/api/v1/categories', { name: 'Lamps' })
  await send('PATCH', `/api/v1/categories/${category.id}`, { description: 'Bright things' })
  const created = await send('POST', '/api/v1/products', product('AUD-1'))
  await send('PATCH', `/api/v1/products/${created.id}`, { description: 'Brighter', tags: ['lamps'] })
  await send('DELETE', `/api/v1/products/${created.id}`)
  await send('DELETE', `/api/v1/categories/${category.id}`)
  const key = await send('POST', '/api/v1/api-keys', { name: 'robot', role: 'editor' })
  await send('DELETE', `/api/v1/api-keys/${key.id}`)

  const entries = (await auditRows(app)).slice(before)
  assert.deepEqual(
    entries.map((e) => `${e.entity_type}:${e.action}:${e.entity_id}`),
    [
      `category:create:${category.id}`,
      `category:update:${category.id}`,
      `product:create:${created.id}`,
      `variant:create:${created.variants[0].id}`,
      `product:update:${created.id}`,
      `product:delete:${created.id}`,
      `category:delete:${category.id}`,
      `api_key:create:${key.id}`,
      `api_key:delete:${key.id}`
    ]
  )
  for (const e of entries) {
    assert.equal(e.actor_type, 'api_key')
    assert.equal(e.actor_id, adminRow?.id)
    assert.equal(e.actor_name, 'test-admin')
    assert.equal(e.actor_role, 'admin')
    assert.equal(e.ip, '203.0.113.7', 'the client IP as TRUST_PROXY resolves it')
    assert.equal(e.user_agent, 'audit-test/1.0')
    assert.equal(e.request_id, 'req-audit-1')
    assert.ok(e.occurred_at instanceof Date)
  }
  const [, , pCreate, vCreate, pUpdate, pDelete] = entries
  assert.equal(pCreate?.old_values, null)
  assert.equal(pCreate?.new_values?.name, 'Lamp AUD-1')
  assert.equal(vCreate?.new_values?.sku, 'AUD-1')
  assert.deepEqual(vCreate?.new_values?.prices, [{ currency: 'USD', amountCents: 1999 }])
  assert.deepEqual(pUpdate?.changed_fields, ['description', 'tags'])
  assert.equal(pUpdate?.old_values?.description, '')
  assert.equal(pUpdate?.new_values?.description, 'Brighter')
  assert.equal(pDelete?.new_values, null)
  assert.equal(pDelete?.old_values?.description, 'Brighter')
  assert.deepEqual(entries[8]?.changed_fields, ['revokedAt'])
})

test('when the TRUST_PROXY setting names no proxy, then the audit entry records the peer address, not X-Forwarded-For', async (t) => {
  const app = await build(t)
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/products',
    headers: { ...bearer(await apiKey(app)), 'x-forwarded-for': '198.51.100.1' },
    payload: product('AUD-IP')
  })
  assert.equal(res.statusCode, 201)
  const last = (await auditRows(app)).at(-1)
  assert.equal(last?.ip, '127.0.0.1')
})

test('when API keys are created and revoked, then no key, key hash or Authorization header appears anywhere in the log', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/api-keys',
    headers: bearer(admin),
    payload: { name: 'secret-holder', role: 'admin' }
  })
  assert.equal(res.statusCode, 201)
  const created = res.json().data as { id: number; key: string }
  await app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${created.id}`, headers: bearer(admin) })
  const { rows } = await app.db.primary.query<{ text: string }>('SELECT row_to_json(a)::text AS text FROM audit_log a')
  const log = rows.map((r) => r.text).join('\n')
  assert.ok(log.includes('secret-holder'), 'the key entries are there')
  for (const secret of [
    created.key,
    admin,
    hashKey(created.key).toString('hex'),
    hashKey(admin).toString('hex'),
    'Bearer',
    'key_hash',
    'keyHash'
  ]) {
    assert.ok(!log.includes(secret), `the log does not contain ${secret.slice(0, 12)}…`)
  }
})

test('when the audit insert fails, then the change is rolled back: no product, category or API key change commits without its entry', async (t) => {
  const app = await build(t, { LOG_LEVEL: 'silent' })
  const admin = await apiKey(app, 'admin')
  const ok = await app.inject({
    method: 'POST',
    url: '/api/v1/products',
    headers: bearer(admin),
    payload: product('AUD-KEEP')
  })
  const kept = ok.json().data as { id: number; description: string }
  const category = (
    await app.inject({ method: 'POST', url: '/api/v1/categories', headers: bearer(admin), payload: { name: 'Kept' } })
  ).json().data
  const other = (
    await app.inject({
      method: 'POST',
      url: '/api/v1/api-keys',
      headers: bearer(admin),
      payload: { name: 'kept', role: 'editor' }
    })
  ).json().data
  const entriesBefore = (await auditRows(app)).length
  const counts = async () => [
    await count(app, 'products'),
    await count(app, 'categories'),
    await count(app, 'api_keys')
  ]
  const countsBefore = await counts()
  // From here on every audit insert fails, as a full disk or a broken constraint would make it.
  await app.db.primary.query('ALTER TABLE audit_log ADD CONSTRAINT refuse_all CHECK (false) NOT VALID')

  type Write = { method: 'POST' | 'PATCH' | 'DELETE'; url: string; payload?: object }
  const attempts: [string, Write][] = [
    ['product create', { method: 'POST', url: '/api/v1/products', payload: product('AUD-LOST') }],
    ['product update', { method: 'PATCH', url: `/api/v1/products/${kept.id}`, payload: { description: 'Lost' } }],
    ['product delete', { method: 'DELETE', url: `/api/v1/products/${kept.id}` }],
    ['category create', { method: 'POST', url: '/api/v1/categories', payload: { name: 'Lost' } }],
    ['category update', { method: 'PATCH', url: `/api/v1/categories/${category.id}`, payload: { name: 'Renamed' } }],
    ['category delete', { method: 'DELETE', url: `/api/v1/categories/${category.id}` }],
    ['API key create', { method: 'POST', url: '/api/v1/api-keys', payload: { name: 'lost', role: 'editor' } }],
    ['API key revoke', { method: 'DELETE', url: `/api/v1/api-keys/${other.id}` }]
  ]
  for (const [what, request] of attempts) {
    const res = await app.inject({ ...request, headers: bearer(admin) })
    assert.equal(res.statusCode, 500, `${what}: ${res.body}`)
  }
  assert.deepEqual(await counts(), countsBefore)
  const row = (await app.db.primary.query('SELECT description FROM products WHERE id = $1', [kept.id])).rows[0]
  assert.equal(row?.description, kept.description, 'the update did not commit')
  const cat = (await app.db.primary.query('SELECT name FROM categories WHERE id = $1', [category.id])).rows[0]
  assert.equal(cat?.name, 'Kept', 'the category rename did not commit')
  const key = (await app.db.primary.query('SELECT revoked_at FROM api_keys WHERE id = $1', [other.id])).rows[0]
  assert.equal(key?.revoked_at, null, 'the revocation did not commit')
  assert.equal((await auditRows(app)).length, entriesBefore)
})

test('when the apikey CLI creates and revokes a key, then both are audited with a system actor', async (t) => {
  const app = await build(t)
  const created = await runScript('apikey.ts', ['create', '--name', 'cli-made', '--role', 'editor'], app.target)
  assert.equal(created.code, 0, created.out)
  const id = Number(/created API key (\d+)/.exec(created.out)?.[1])
  const revoked = await runScript('apikey.ts', ['revoke', String(id)], app.target)
  assert.equal(revoked.code, 0, revoked.out)
  const entries = (await auditRows(app)).filter((e) => e.entity_type === 'api_key' && e.entity_id === id)
  assert.deepEqual(
    entries.map((e) => e.action),
    ['create', 'delete']
  )
  for (const e of entries) {
    assert.equal(e.actor_type, 'system')
    assert.equal(e.actor_name, 'cli')
    assert.equal(e.actor_id, null)
    assert.equal(e.ip, null)
  }
})

test('when BOOTSTRAP_ADMIN_API_KEY is registered at start, then the key creation is audited once with a system actor', async (t) => {
  const app = await build(t)
  const config = loadConfig({
    ...dbEnv(app.target),
    MIGRATE_ON_STARTUP: 'false',
    BOOTSTRAP_ADMIN_API_KEY: 'ck_bootstrap-test-key-123',
    NODE_ENV: 'test'
  })
  const log = pino({ level: 'silent' })
  await prepareDatabase(config, log)
  await prepareDatabase(config, log) // already registered: no second entry
  const entries = (await auditRows(app)).filter(
    (e) => e.entity_type === 'api_key' && e.new_values?.name === 'bootstrap-admin'
  )
  assert.equal(entries.length, 1)
  assert.equal(entries[0]?.actor_type, 'system')
  assert.equal(entries[0]?.actor_name, 'bootstrap')
})
