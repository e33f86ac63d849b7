import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { entryHash } from '../../src/modules/audit/chain.js'
import { rowToContent } from '../../src/modules/audit/repository.js'
import { verifyChain } from '../../src/modules/audit/service.js'
import { apiKey, bearer, build } from '../helper.js'
import { auditRows, runScript } from './support.js'

/** An app with `n` products created through the API: n + 1 entries (the test key's creation comes first). */
async function withEntries(
  t: Parameters<typeof build>[0],
  n: number
): Promise<FastifyInstance & { target: Parameters<typeof runScript>[2] }> {
  const app = await build(t)
  const key = await apiKey(app)
  for (let i = 0; i < n; i++) {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/products',
      headers: bearer(key),
      payload: { sku: `CH-${i}`, name: `Chain ${i}`, priceCents: i, currency: 'EUR' }
    })
    assert.equal(res.statusCode, 201)
  }
  return app
}

test('when 40 writers append at once, then the chain neither forks nor breaks: ids 1..n without gaps, each linked to the one before', async (t) => {
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
  const rows = await auditRows(app)
  assert.deepEqual(
    rows.map((r) => r.id),
    Array.from({ length: 41 }, (_, i) => i + 1)
  )
  for (let i = 1; i < rows.length; i++)
    assert.ok(rows[i]?.prev_hash.equals(rows[i - 1]?.hash as Buffer), `entry ${i + 1} links to entry ${i}`)
  assert.deepEqual(await verifyChain(app.db.primary), { ok: true, checked: 41, firstId: 1, lastId: 41 })
})

test('when the chain is intact, then npm run audit:verify says so and exits 0', async (t) => {
  const app = await withEntries(t, 3)
  const res = await runScript('audit-verify.ts', [], app.target)
  assert.equal(res.code, 0, res.out)
  assert.match(res.out, /audit chain intact: 4 entries \(1\.\.4\)/)
})

test('when an entry is altered, then audit:verify names it and exits non-zero', async (t) => {
  const app = await withEntries(t, 4)
  await app.db.primary.query(
    `UPDATE audit_log SET new_values = jsonb_set(new_values, '{priceCents}', '0') WHERE id = 3`
  )
  const res = await runScript('audit-verify.ts', [], app.target)
  assert.equal(res.code, 1, res.out)
  assert.match(res.out, /BROKEN at entry 3 \(altered\)/)
})

test('when an entry is deleted, then audit:verify names the missing entry and exits non-zero', async (t) => {
  const app = await withEntries(t, 4)
  await app.db.primary.query('DELETE FROM audit_log WHERE id = 3')
  const res = await runScript('audit-verify.ts', [], app.target)
  assert.equal(res.code, 1, res.out)
  assert.match(res.out, /BROKEN at entry 3 \(deleted\)/)
})

test('when the newest entries are deleted, then the chain head still shows they existed', async (t) => {
  const app = await withEntries(t, 4)
  await app.db.primary.query('DELETE FROM audit_log WHERE id >= 4')
  const result = await verifyChain(app.db.primary)
  assert.equal(result.ok, false)
  assert.equal(!result.ok && result.problem, 'deleted')
  assert.equal(!result.ok && result.entryId, 4)
})

test('when a forged entry is inserted out of order (later entries renumbered, its own hash valid), then audit:verify names it', async (t) => {
  const app = await withEntries(t, 4)
  const rows = await auditRows(app)
  const prev = rows[1]
  const template = rows[2]
  assert.ok(prev && template)
  // Make room at id 3 and insert an entry that links correctly to entry 2: only its successor can tell.
  await app.db.primary.query('UPDATE audit_log SET id = id + 1000 WHERE id >= 3')
  await app.db.primary.query('UPDATE audit_log SET id = id - 999 WHERE id > 1000')
  const forged = { ...rowToContent(template), id: 3, newValues: { ...template.new_values, priceCents: 1 } }
  const hash = entryHash(prev.hash, forged)
  await app.db.primary.query(
    `INSERT INTO audit_log (id, occurred_at, action, entity_type, entity_id, actor_type, actor_id, actor_name, actor_role, ip, user_agent,
       request_id, old_values, new_values, changed_fields, prev_hash, hash)
     SELECT 3, occurred_at, action, entity_type, entity_id, actor_type, actor_id, actor_name, actor_role, ip, user_agent,
       request_id, old_values, $1, changed_fields, $2, $3 FROM audit_log WHERE id = 4`,
    [JSON.stringify(forged.newValues), prev.hash, hash]
  )
  const res = await runScript('audit-verify.ts', [], app.target)
  assert.equal(res.code, 1, res.out)
  assert.match(res.out, /BROKEN at entry 3 \(inserted\): entry 3 was inserted out of order/)
})
