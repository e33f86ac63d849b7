import assert from 'node:assert/strict'
import { test } from 'node:test'
import pg from 'pg'
import { ConfigError, loadConfig } from '../../src/config.js'
import { createApiKey } from '../../src/modules/api-keys/service.js'
import { createQueueVacuum, sealPending } from '../../src/writes/sealer.js'
import { verifyChain } from '../../src/writes/verify.js'
import { apiKey, bearer, build, connect, createTestDatabase, type TestApp } from '../helper.js'
import { startServer } from '../server-process.js'
import { auditRows, chainRows, createCategory, runScript } from './support.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const metric = async (app: TestApp, name: string) => {
  const text = await app.metrics.registry.metrics()
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'gm'))].reduce((s, m) => s + Number(m[1]), 0)
}

/** Waits until no entry is unsealed (or `ms` passed); the number still unsealed. */
async function sealedWithin(app: TestApp, ms: number): Promise<number> {
  const deadline = Date.now() + ms
  for (;;) {
    const { rows } = await app.db.primary.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM audit_log a WHERE NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.entry_id = a.id)'
    )
    const left = rows[0]?.n ?? -1
    if (left === 0 || Date.now() > deadline) return left
    await sleep(50)
  }
}

test('when 32 writers create and patch products through 3 instances at once, then every entry is sealed within AUDIT_SEAL_MAX_DELAY_MS, once, and verify passes; no update is lost and no retry duplicates', async (t) => {
  const target = await createTestDatabase(t)
  // No response cache: without Redis each instance's cache would serve its own stale copy to the readers.
  const env = {
    DB_POOL_MAX: '8',
    CACHE_ENABLED: 'false',
    AUDIT_SEAL_INTERVAL_MS: '250',
    AUDIT_SEAL_MAX_DELAY_MS: '5000'
  }
  const apps = [await build(t, env, target), await build(t, env, target), await build(t, env, target)]
  const key = await apiKey(apps[0] as TestApp)
  const via = (i: number) => apps[i % apps.length] as TestApp
  const hot = await via(0).inject({
    method: 'POST',
    url: '/api/v1/products',
    headers: bearer(key),
    payload: { sku: 'HOT', name: 'Contended', priceCents: 1, currency: 'EUR', status: 'active' }
  })
  assert.equal(hot.statusCode, 201)
  const hotId = hot.json().data.id as number

  let patched = 0
  let replayed = 0
  const writer = async (w: number) => {
    for (let n = 0; n < 3; n++) {
      // A create with an Idempotency-Key, retried through another instance: replayed, not run twice.
      const request = {
        method: 'POST' as const,
        url: '/api/v1/products',
        headers: { ...bearer(key), 'idempotency-key': `w${w}-${n}` },
        payload: { sku: `W${w}-${n}`, name: `Writer ${w}`, priceCents: n, currency: 'EUR' }
      }
      const first = await via(w + n).inject(request)
      assert.equal(first.statusCode, 201, first.body)
      const again = await via(w + n + 1).inject(request)
      assert.equal(again.statusCode, 201, again.body)
      assert.equal(again.headers['idempotent-replayed'], 'true')
      assert.equal(again.json().data.id, first.json().data.id)
      replayed += 1
      // Read-modify-write of one contended product with If-Match: retried on 412 until it lands.
      for (let attempt = 0; ; attempt++) {
        const current = await via(w + attempt).inject({ url: `/api/v1/products/${hotId}` })
        const res = await via(w + attempt + 1).inject({
          method: 'PATCH',
          url: `/api/v1/products/${hotId}`,
          headers: { ...bearer(key), 'if-match': String(current.headers.etag) },
          payload: { description: `${Number(current.json().data.description || 0) + 1}` }
        })
        if (res.statusCode === 200) break
        assert.equal(res.statusCode, 412, res.body)
        await sleep(Math.random() * 20)
      }
      patched += 1
    }
  }
  await Promise.all(Array.from({ length: 32 }, (_, w) => writer(w)))

  const app = via(0)
  // Every increment landed exactly once: no lost update.
  const { rows: finals } = await app.db.primary.query<{ description: string; version: number }>(
    'SELECT description, version FROM products WHERE id = $1',
    [hotId]
  )
  assert.deepEqual(finals[0], { description: String(patched), version: 1 + patched })
  const { rows: counts } = await app.db.primary.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM product_variants WHERE sku LIKE 'W%'"
  )
  assert.equal(counts[0]?.n, replayed, 'one product per create, none from a retry')

  assert.equal(await sealedWithin(app, 5000), 0, 'every entry sealed within the bound')
  const rows = await chainRows(app)
  const entries = await auditRows(app)
  // The key, the hot product and its variant, 96 creates with a variant each, 96 patches.
  assert.equal(entries.length, 3 + 2 * 96 + 96)
  assert.equal(rows.length, entries.length)
  assert.deepEqual(
    rows.map((r) => r.position),
    entries.map((_, i) => i + 1)
  )
  const { rows: lags } = await app.db.primary.query<{ worst: number }>(
    `SELECT max(extract(epoch FROM c.sealed_at - a.occurred_at) * 1000)::float8 AS worst
       FROM audit_chain c JOIN audit_log a ON a.id = c.entry_id`
  )
  t.diagnostic(`slowest seal: ${lags[0]?.worst} ms`)
  assert.ok((lags[0]?.worst ?? Infinity) < 5000, `slowest seal ${lags[0]?.worst} ms`)
  const sealed = await Promise.all(apps.map((a) => metric(a, 'audit_entries_sealed_total')))
  assert.equal(
    sealed.reduce((a, b) => a + b, 0),
    entries.length,
    `sealed per instance: ${sealed.join(', ')}`
  )
  assert.deepEqual(await verifyChain(app.db.primary, { maxDelayMs: 5000 }), {
    ok: true,
    checked: entries.length,
    firstPosition: 1,
    lastPosition: entries.length,
    unsealed: 0
  })
})

test('when an instance commits writes and dies before any seal (its sealer off, then SIGKILL), then audit:verify reports them once overdue and another instance seals them after the restart', async (t) => {
  const target = await createTestDatabase(t)
  const db = await connect(t, target)
  const { key } = await createApiKey(db, { name: 'crash', role: 'editor' })
  const server = await startServer(t, target, { LOG_LEVEL: 'warn', AUDIT_SEAL_INTERVAL_MS: '0' })
  for (let i = 0; i < 5; i++) {
    const res = await fetch(`${server.url}/api/v1/products`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sku: `DIE-${i}`, name: `Before the crash ${i}`, priceCents: i, currency: 'EUR' })
    })
    assert.equal(res.status, 201)
  }
  server.child.kill('SIGKILL')
  await server.exited
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_pending')
  assert.equal(rows[0]?.n, 11, 'the key and 5 creates (a product and its variant each) committed, none sealed')

  await sleep(1200)
  // Within a generous bound they are only waiting; past a 1 s bound they are named, oldest first.
  const waiting = await runScript('audit-verify.ts', [], target, { AUDIT_SEAL_MAX_DELAY_MS: '600000' })
  assert.equal(waiting.code, 0, waiting.out)
  assert.match(waiting.out, /audit chain intact: no sealed entries; 11 newer entries await sealing/)
  const overdue = await runScript('audit-verify.ts', [], target, {
    AUDIT_SEAL_MAX_DELAY_MS: '1000',
    AUDIT_SEAL_INTERVAL_MS: '0'
  })
  assert.equal(overdue.code, 1, overdue.out)
  assert.match(overdue.out, /BROKEN at entry 1 \(unsealed\): 11 entries written more than 1000 ms ago are not sealed/)

  // A fresh instance on the same database seals them by itself, on its timer.
  const restarted = await build(t, { AUDIT_SEAL_INTERVAL_MS: '200' }, target)
  assert.equal(await sealedWithin(restarted, 5000), 0)
  assert.deepEqual(await verifyChain(db, { maxDelayMs: 1000 }), {
    ok: true,
    checked: 11,
    firstPosition: 1,
    lastPosition: 11,
    unsealed: 0
  })
})

test('when another session holds the seal lock, then this instance skips its pass and seals nothing; once released it does', async (t) => {
  const app = await build(t, { AUDIT_SEAL_INTERVAL_MS: '0' })
  const key = await apiKey(app)
  const other = await connect(t, app.target)
  await other.query('SELECT pg_advisory_lock(7261005)')
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/products',
    headers: bearer(key),
    payload: { sku: 'LOCKED', name: 'Locked out', priceCents: 1, currency: 'EUR' }
  })
  assert.equal(res.statusCode, 201)
  await app.audit.seal()
  assert.match(await app.metrics.registry.metrics(), /audit_seal_runs_total\{outcome="skipped"\} 1/)
  assert.equal((await chainRows(app)).length, 0)
  await other.query('SELECT pg_advisory_unlock(7261005)')
  await app.audit.seal()
  assert.equal((await chainRows(app)).length, 3, 'the key, the product and its variant')
})

/** How many times audit_pending has been vacuumed (by hand or by the sealer), as the statistics report it. */
async function queueVacuums(app: TestApp): Promise<number> {
  const { rows } = await app.db.primary.query<{ n: number }>(
    "SELECT vacuum_count::int AS n FROM pg_stat_user_tables WHERE relname = 'audit_pending'"
  )
  return rows[0]?.n ?? -1
}

test('when a sealer has sealed as many entries as its queue vacuum asks for, then it vacuums audit_pending after that pass, not before, and counts anew', async (t) => {
  const app = await build(t, { AUDIT_SEAL_INTERVAL_MS: '0' })
  const key = await apiKey(app)
  const vacuum = createQueueVacuum(5)
  const categories = async (...names: string[]) => {
    for (const name of names) await createCategory(app, key, name)
  }
  const before = await queueVacuums(app)
  await categories('One', 'Two', 'Three')
  const first = await sealPending(app.db.primary, 1000, true, vacuum)
  assert.deepEqual([first.sealed, first.vacuumed], [4, false], 'the key and three categories: below the threshold')
  await categories('Four', 'Five')
  const second = await sealPending(app.db.primary, 1000, true, vacuum)
  assert.deepEqual([second.sealed, second.vacuumed], [2, true], 'six entries sealed since the start: vacuumed')
  await categories('Six')
  const third = await sealPending(app.db.primary, 1000, true, vacuum)
  assert.deepEqual([third.sealed, third.vacuumed], [1, false], 'the count starts again after a vacuum')
  const deadline = Date.now() + 5000
  while ((await queueVacuums(app)) === before && Date.now() < deadline) await sleep(50)
  assert.equal(await queueVacuums(app), before + 1, 'PostgreSQL counted exactly one vacuum of the queue')
  const { rows } = await app.db.primary.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_pending')
  assert.equal(rows[0]?.n, 0)
  assert.equal((await verifyChain(app.db.primary, { maxDelayMs: 5000 })).ok, true)
})

test('when the queue vacuum fails after a pass, then the pass still reports what it sealed, with the reason', async (t) => {
  const app = await build(t, { AUDIT_SEAL_INTERVAL_MS: '0' })
  const key = await apiKey(app)
  await createCategory(app, key, 'Kept')
  const failing = { after: async () => Promise.reject(new Error('canceling statement due to statement timeout')) }
  const result = await sealPending(app.db.primary, 1000, true, failing)
  assert.equal(result.sealed, 2)
  assert.equal(result.vacuumFailed, 'canceling statement due to statement timeout')
  assert.equal(result.vacuumed, undefined)
  assert.equal((await chainRows(app)).length, 2)
  assert.equal((await verifyChain(app.db.primary, { maxDelayMs: 5000 })).ok, true)
})

test('when the role that seals does not own audit_pending, then its queue vacuum never runs and sealing goes on', async (t) => {
  const app = await build(t, { AUDIT_SEAL_INTERVAL_MS: '0' })
  const key = await apiKey(app)
  await createCategory(app, key, 'Owned')
  const role = `not_owner_${process.pid}_${Date.now()}`
  const admin = await connect(t, app.target)
  await admin.query(`CREATE ROLE ${role}`)
  // A pool whose connection acts as that role from its start (the test's user is a member of every role it creates).
  const pool = new pg.Pool({ ...app.target, max: 1, options: `-c role=${role}` })
  try {
    await admin.query(`GRANT ALL ON ALL TABLES IN SCHEMA public TO ${role}`)
    await admin.query(`GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO ${role}`)
    const { rows } = await pool.query<{ who: string }>('SELECT current_user AS who')
    assert.equal(rows[0]?.who, role)
    const result = await sealPending(pool, 1000, true, createQueueVacuum(1))
    assert.deepEqual([result.sealed, result.vacuumed], [2, false], 'the key and the category sealed, no vacuum')
    assert.equal((await verifyChain(app.db.primary, { maxDelayMs: 5000 })).ok, true)
  } finally {
    await pool.end()
    await admin.query(`DROP OWNED BY ${role}`)
    await admin.query(`DROP ROLE ${role}`)
  }
})

test('when AUDIT_SEAL_INTERVAL_MS is not below AUDIT_SEAL_MAX_DELAY_MS, then loading the configuration fails naming both', () => {
  assert.throws(
    () => loadConfig({ AUDIT_SEAL_INTERVAL_MS: '5000', AUDIT_SEAL_MAX_DELAY_MS: '5000' }),
    (err: unknown) =>
      err instanceof ConfigError &&
      /AUDIT_SEAL_INTERVAL_MS=5000 is invalid: expected less than AUDIT_SEAL_MAX_DELAY_MS \(5000\)/.test(err.message)
  )
  assert.throws(() => loadConfig({ AUDIT_SEAL_MAX_DELAY_MS: '50' }), /AUDIT_SEAL_MAX_DELAY_MS="50" is invalid/)
  assert.equal(loadConfig({ AUDIT_SEAL_INTERVAL_MS: '0' }).AUDIT_SEAL_INTERVAL_MS, 0)
})

test("when a write's values hold quotes, backslashes and non-ASCII text, then its entry (sent with the COMMIT) stores them exactly and seals", async (t) => {
  const app = await build(t)
  const key = await apiKey(app)
  const name = `O'Brien \\ "quoted" \\' ü 😀 $1 ; COMMIT; --`
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/products',
    headers: { ...bearer(key), 'user-agent': `agent 'x' \\ y` },
    payload: { sku: 'ESC-1', name, description: 'line\nbreak\ttab', priceCents: 1, currency: 'EUR' }
  })
  assert.equal(res.statusCode, 201, res.body)
  await app.audit.seal()
  const entry = (await auditRows(app)).find((e) => e.entity_type === 'product')
  // The product's entry holds its own fields; its variant has an entry of its own.
  const { variants: _variants, priceRange: _range, ...fields } = res.json().data
  assert.deepEqual(entry?.new_values, fields)
  assert.equal(entry?.user_agent, `agent 'x' \\ y`)
  assert.deepEqual(entry?.changed_fields.includes('name'), true)
  assert.equal((await verifyChain(app.db.primary, { maxDelayMs: 5000 })).ok, true)
})
