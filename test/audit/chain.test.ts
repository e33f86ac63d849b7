import assert from 'node:assert/strict'
import { test } from 'node:test'
import { entryHash } from '../../src/writes/audit-chain.js'
import { rowToContent } from '../../src/writes/audit-log.js'
import { verifyChain } from '../../src/writes/verify.js'
import { apiKey, bearer, build, type TestApp } from '../helper.js'
import { auditRows, chainRows, runScript } from './support.js'

const BOUND = { maxDelayMs: 5000 }

/** An app with `n` categories created through the API and sealed: n + 1 entries (the test key's creation first). */
async function withEntries(t: Parameters<typeof build>[0], n: number): Promise<TestApp> {
  const app = await build(t)
  const key = await apiKey(app)
  for (let i = 0; i < n; i++) {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/categories',
      headers: bearer(key),
      payload: { name: `Chain ${i}` }
    })
    assert.equal(res.statusCode, 201)
  }
  await app.audit.seal()
  return app
}

const entryAt = async (app: TestApp, position: number) => {
  const row = (await chainRows(app)).find((r) => r.position === position)
  assert.ok(row, `an entry is sealed at position ${position}`)
  return row
}

test('when 40 writers append at once, then after sealing the chain neither forks nor breaks: positions 1..n without gaps, each linked to the one before', async (t) => {
  const app = await build(t, { DB_POOL_MAX: '20' })
  const key = await apiKey(app)
  const results = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      app.inject({
        method: 'POST',
        url: '/api/v1/products',
        headers: bearer(key),
        payload: { sku: `PAR-${i}`, name: `Parallel ${i}`, priceCents: 100, currency: 'USD' }
      })
    )
  )
  assert.ok(results.every((r) => r.statusCode === 201))
  await app.audit.seal()
  const rows = await chainRows(app)
  // The key, then a product and its variant per create.
  assert.equal((await auditRows(app)).length, 81)
  assert.deepEqual(
    rows.map((r) => r.position),
    Array.from({ length: 81 }, (_, i) => i + 1)
  )
  assert.equal(new Set(rows.map((r) => r.id)).size, 81, 'every entry sealed once')
  for (let i = 1; i < rows.length; i++)
    assert.ok(rows[i]?.prev_hash?.equals(rows[i - 1]?.hash as Buffer), `position ${i + 1} links to position ${i}`)
  assert.deepEqual(await verifyChain(app.db.primary, BOUND), {
    ok: true,
    checked: 81,
    firstPosition: 1,
    lastPosition: 81,
    unsealed: 0
  })
})

test('when entries are not sealed yet, then they carry no link, verify passes within the bound and counts them, and a seal pass chains them', async (t) => {
  const app = await build(t, { AUDIT_SEAL_INTERVAL_MS: '0' })
  const key = await apiKey(app, 'admin')
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/categories',
    headers: bearer(key),
    payload: { name: 'Waiting' }
  })
  assert.equal(res.statusCode, 201)
  const listed = (await app.inject({ url: '/api/v1/audit-logs', headers: bearer(key) })).json().data
  assert.equal(listed.length, 2)
  for (const entry of listed) assert.deepEqual([entry.position, entry.prevHash, entry.hash], [null, null, null])
  assert.deepEqual(await verifyChain(app.db.primary, BOUND), {
    ok: true,
    checked: 0,
    firstPosition: null,
    lastPosition: null,
    unsealed: 2
  })
  await app.audit.seal()
  const sealed = (await app.inject({ url: '/api/v1/audit-logs', headers: bearer(key) })).json().data
  assert.deepEqual(
    sealed.map((e: { position: number }) => e.position),
    [2, 1]
  )
  assert.equal(sealed[0].prevHash, sealed[1].hash)
  assert.match(await app.metrics.registry.metrics(), /audit_entries_sealed_total 2/)
  assert.match(await app.metrics.registry.metrics(), /audit_seal_lag_seconds_count 2/)
})

test('when the chain is intact, then npm run audit:verify says so and exits 0', async (t) => {
  const app = await withEntries(t, 3)
  const res = await runScript('audit-verify.ts', [], app.target)
  assert.equal(res.code, 0, res.out)
  assert.match(res.out, /audit chain intact: 4 entries \(positions 1\.\.4\)/)
})

test('when a sealed entry is altered, then audit:verify names it and exits non-zero', async (t) => {
  const app = await withEntries(t, 4)
  const victim = await entryAt(app, 3)
  await app.db.primary.query(
    `UPDATE audit_log SET new_values = jsonb_set(new_values::jsonb, '{priceCents}', '0') WHERE id = $1`,
    [victim.id]
  )
  const res = await runScript('audit-verify.ts', [], app.target)
  assert.equal(res.code, 1, res.out)
  assert.match(res.out, new RegExp(`BROKEN at position 3, entry ${victim.id} \\(altered\\)`))
})

test('when a sealed entry is deleted, then audit:verify names the missing entry and exits non-zero', async (t) => {
  const app = await withEntries(t, 4)
  const victim = await entryAt(app, 3)
  await app.db.primary.query('DELETE FROM audit_log WHERE id = $1', [victim.id])
  const res = await runScript('audit-verify.ts', [], app.target)
  assert.equal(res.code, 1, res.out)
  assert.match(res.out, new RegExp(`BROKEN at position 3, entry ${victim.id} \\(deleted\\)`))
})

test('when a sealed entry is deleted with its link, then audit:verify names the missing position', async (t) => {
  const app = await withEntries(t, 4)
  const victim = await entryAt(app, 3)
  await app.db.primary.query('DELETE FROM audit_chain WHERE position = 3')
  await app.db.primary.query('DELETE FROM audit_log WHERE id = $1', [victim.id])
  const res = await runScript('audit-verify.ts', [], app.target)
  assert.equal(res.code, 1, res.out)
  assert.match(res.out, /BROKEN at position 3 \(deleted\): positions 3\.\.3 are missing/)
})

test('when the newest sealed entries are deleted, then the chain head still shows they existed', async (t) => {
  const app = await withEntries(t, 4)
  await app.db.primary.query(
    'WITH gone AS (DELETE FROM audit_chain WHERE position >= 4 RETURNING entry_id) DELETE FROM audit_log WHERE id IN (SELECT entry_id FROM gone)'
  )
  const result = await verifyChain(app.db.primary, BOUND)
  assert.equal(result.ok, false)
  assert.equal(!result.ok && result.problem, 'deleted')
  assert.equal(!result.ok && result.position, 4)
})

test('when a forged entry is inserted into the sealed chain (later links renumbered, its own hash valid), then audit:verify names it', async (t) => {
  const app = await withEntries(t, 4)
  const prev = await entryAt(app, 2)
  const template = await entryAt(app, 3)
  // Make room at position 3 and link a new entry correctly to position 2: only its successor can tell.
  await app.db.primary.query('UPDATE audit_chain SET position = position + 1000 WHERE position >= 3')
  await app.db.primary.query('UPDATE audit_chain SET position = position - 999 WHERE position > 1000')
  const { rows } = await app.db.primary.query<{ id: number }>(
    `INSERT INTO audit_log (occurred_at, action, entity_type, entity_id, actor_type, actor_id, actor_name, actor_role, ip,
       user_agent, request_id, old_values, new_values, changed_fields)
     SELECT occurred_at, action, entity_type, entity_id, actor_type, actor_id, actor_name, actor_role, ip, user_agent,
       request_id, old_values, jsonb_set(new_values::jsonb, '{priceCents}', '1'), changed_fields FROM audit_log WHERE id = $1
     RETURNING id`,
    [template.id]
  )
  const forgedId = rows[0]?.id as number
  const forged = (await auditRows(app)).find((r) => r.id === forgedId)
  assert.ok(forged)
  const hash = entryHash(prev.hash, rowToContent(forged))
  await app.db.primary.query('INSERT INTO audit_chain (position, entry_id, prev_hash, hash) VALUES (3, $1, $2, $3)', [
    forgedId,
    prev.hash,
    hash
  ])
  const res = await runScript('audit-verify.ts', [], app.target)
  assert.equal(res.code, 1, res.out)
  assert.match(
    res.out,
    new RegExp(
      `BROKEN at position 3, entry ${forgedId} \\(inserted\\): position 3 \\(entry ${forgedId}\\) was inserted out of order`
    )
  )
})

test('when a link is appended behind the sealer, then audit:verify names it', async (t) => {
  const app = await withEntries(t, 2)
  const last = await entryAt(app, 3)
  const forged = { ...rowToContent(last), newValues: { forged: true } }
  const { rows } = await app.db.primary.query<{ id: number }>(
    `INSERT INTO audit_log (occurred_at, action, entity_type, entity_id, actor_type, actor_name, new_values, changed_fields)
     VALUES ($1, 'create', 'product', 1, 'system', 'x', '{"forged": true}', '{}') RETURNING id`,
    [forged.occurredAt]
  )
  const id = rows[0]?.id as number
  const entry = (await auditRows(app)).find((r) => r.id === id)
  assert.ok(entry)
  await app.db.primary.query('INSERT INTO audit_chain (position, entry_id, prev_hash, hash) VALUES (4, $1, $2, $3)', [
    id,
    last.hash,
    entryHash(last.hash, rowToContent(entry))
  ])
  const result = await verifyChain(app.db.primary, BOUND)
  assert.equal(!result.ok && result.problem, 'inserted')
  assert.equal(!result.ok && result.position, 4)
})

test('when an entry is written straight into audit_log and stays unsealed past AUDIT_SEAL_MAX_DELAY_MS, then audit:verify names it', async (t) => {
  const app = await withEntries(t, 2)
  const { rows } = await app.db.primary.query<{ id: number }>(
    `INSERT INTO audit_log (occurred_at, action, entity_type, entity_id, actor_type, actor_name, changed_fields)
     VALUES (now() - interval '1 minute', 'delete', 'product', 1, 'system', 'intruder', '{}') RETURNING id`
  )
  const res = await runScript('audit-verify.ts', [], app.target)
  assert.equal(res.code, 1, res.out)
  assert.match(
    res.out,
    new RegExp(`BROKEN at entry ${rows[0]?.id} \\(unsealed\\): 1 entries written more than 5000 ms ago are not sealed`)
  )
})
