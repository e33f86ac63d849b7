import assert from 'node:assert/strict'
import { test } from 'node:test'
import { loadMigrations, migrate } from '../../src/db/migrate.js'
import { type AuditContent, entryHash, GENESIS_HASH } from '../../src/writes/audit-chain.js'
import { verifyChain } from '../../src/writes/verify.js'
import { apiKey, bearer, build, connect, createTestDatabase } from '../helper.js'
import { chainRows } from './support.js'

test('when a database with entries chained before migration 003 is migrated, then they stay chained and verification runs across the switch', async (t) => {
  const target = await createTestDatabase(t, { empty: true })
  const db = await connect(t, target)
  const all = await loadMigrations()
  await migrate(
    db,
    all.filter((m) => m.version <= 2)
  )
  // Three entries as the earlier code appended them: id = chain position, hashes in audit_log, head moved.
  let prev: Buffer = GENESIS_HASH
  for (let id = 1; id <= 3; id++) {
    const content: AuditContent = {
      id,
      occurredAt: new Date(Date.now() - (4 - id) * 60_000).toISOString(),
      action: 'create',
      entityType: 'category',
      entityId: id,
      actor: { type: 'system', id: null, name: 'cli', role: null },
      ip: null,
      userAgent: null,
      requestId: null,
      oldValues: null,
      newValues: { name: `Before ${id}` },
      changedFields: ['name']
    }
    const hash = entryHash(prev, content)
    await db.query(
      `INSERT INTO audit_log (id, occurred_at, action, entity_type, entity_id, actor_type, actor_id, actor_name, actor_role,
         ip, user_agent, request_id, old_values, new_values, changed_fields, prev_hash, hash)
       VALUES ($1, $2, 'create', 'category', $1, 'system', NULL, 'cli', NULL, NULL, NULL, NULL, NULL, $3, '{name}', $4, $5)`,
      [id, content.occurredAt, JSON.stringify(content.newValues), prev, hash]
    )
    await db.query('UPDATE audit_chain_head SET last_id = $1, last_hash = $2', [id, hash])
    prev = hash
  }

  assert.ok((await migrate(db, all)).includes('003_audit_seal.sql'))
  assert.deepEqual(await verifyChain(db, { maxDelayMs: 5000 }), {
    ok: true,
    checked: 3,
    firstPosition: 1,
    lastPosition: 3,
    unsealed: 0
  })

  const app = await build(t, {}, target)
  const key = await apiKey(app)
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/products',
    headers: bearer(key),
    payload: { sku: 'AFTER', name: 'After the switch', priceCents: 1, currency: 'EUR' }
  })
  assert.equal(res.statusCode, 201)
  await app.audit.seal()
  const rows = await chainRows(app)
  // The three entries from before, the key, then the product and its variant.
  assert.deepEqual(
    rows.map((r) => [r.position, r.id]),
    [
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 4],
      [5, 5],
      [6, 6]
    ]
  )
  assert.ok(rows[3]?.prev_hash?.equals(prev), 'the first entry sealed after the switch links to the last one before it')
  assert.deepEqual(await verifyChain(db, { maxDelayMs: 5000 }), {
    ok: true,
    checked: 6,
    firstPosition: 1,
    lastPosition: 6,
    unsealed: 0
  })
})
