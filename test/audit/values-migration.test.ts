import assert from 'node:assert/strict'
import { test } from 'node:test'
import { loadMigrations, migrate } from '../../src/db/migrate.js'
import { appendEntries, appendEntry, AUDIT_COLUMNS, type NewEntry } from '../../src/writes/audit-log.js'
import { transactorOf } from '../../src/writes/mutation.js'
import { sealWith } from '../../src/writes/sealer.js'
import { verifyChain } from '../../src/writes/verify.js'
import { connect, createTestDatabase } from '../helper.js'

const entry = (entityId: number, oldValues: NewEntry['oldValues'], newValues: NewEntry['newValues']): NewEntry => ({
  action: oldValues ? 'update' : 'create',
  entityType: 'product',
  entityId,
  actor: { type: 'system', id: null, name: 'test', role: null },
  ip: '127.0.0.1',
  userAgent: 'test "agent"\n',
  requestId: `req-${entityId}`,
  oldValues,
  newValues,
  changedFields: ['name', 'variants']
})

// Values that JSON text can spell in more than one way, or that a line-based encoding could break.
const awkward = {
  name: 'Café "quoted" \\ back\\slash\nnew line\r\ttab \u2028 \u{1F600}',
  zeta: 1,
  alpha: [1.5, -7, 1e21, 0.1, { nested: { deeper: null, list: [] } }],
  empty: {},
  variants: [{ sku: 'A', prices: [{ currency: 'USD', amountCents: 1999 }] }]
}

test('when entries sealed with jsonb values are migrated to json (013, 016), then they and their events read back the same and the chain verifies across the switch', async (t) => {
  const target = await createTestDatabase(t, { empty: true })
  const db = await connect(t, target)
  const all = await loadMigrations()
  await migrate(
    db,
    all.filter((m) => m.version <= 12)
  )
  const tx = transactorOf(db)
  await tx.transaction((q) => appendEntry(q, entry(1, null, awkward)))
  await tx.transaction((q) => appendEntries(q, [entry(2, awkward, { ...awkward, zeta: 2 }), entry(3, null, null)]))
  assert.equal((await sealWith(db)).sealed, 3)
  const { rows: before } = await db.query(`SELECT ${AUDIT_COLUMNS} FROM audit_log ORDER BY id`)
  const { rows: eventsBefore } = await db.query('SELECT * FROM events ORDER BY position')
  assert.equal(eventsBefore.length, 3)

  assert.ok((await migrate(db, all)).includes('013_audit_values_as_json.sql'))
  const { rows: types } = await db.query<{ t: string }>(
    "SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'audit_log'::regclass AND attname IN ('old_values', 'new_values')"
  )
  assert.deepEqual(
    types.map((r) => r.t),
    ['json', 'json']
  )
  const { rows: after } = await db.query(`SELECT ${AUDIT_COLUMNS} FROM audit_log ORDER BY id`)
  assert.deepEqual(after, before)
  // The events made from them (json since migration 016) too.
  assert.deepEqual((await db.query('SELECT * FROM events ORDER BY position')).rows, eventsBefore)

  // Entries written after the switch, one alone and several in one statement, link on and read back as written.
  const later = [entry(4, awkward, { ...awkward, zeta: 4 }), entry(5, null, awkward), entry(6, { gone: true }, null)]
  await tx.transaction((q) => appendEntry(q, entry(7, null, { single: awkward })))
  await tx.transaction((q) => appendEntries(q, later))
  assert.equal((await sealWith(db)).sealed, 4)
  const { rows: written } = await db.query<{ entity_id: number; old_values: unknown; new_values: unknown }>(
    'SELECT entity_id, old_values, new_values, user_agent FROM audit_log WHERE id > 3 ORDER BY id'
  )
  assert.deepEqual(
    written.map((r) => [r.entity_id, r.old_values, r.new_values]),
    [[7, null, { single: awkward }], ...later.map((e) => [e.entityId, e.oldValues, e.newValues])]
  )
  assert.deepEqual(await verifyChain(db, { maxDelayMs: 5000 }), {
    ok: true,
    checked: 7,
    firstPosition: 1,
    lastPosition: 7,
    unsealed: 0
  })
})
