import assert from 'node:assert/strict'
import { test } from 'node:test'
import { verifyChain } from '../../src/writes/verify.js'
import { apiKey, bearer, build, connect } from '../helper.js'

let serial = 0
async function createCategories(app: Awaited<ReturnType<typeof build>>, n: number) {
  const key = await apiKey(app, 'admin')
  for (let i = 0; i < n; i++) {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/categories',
      headers: bearer(key),
      payload: { name: `Kept ${(serial += 1)}-${i}` }
    })
    assert.equal(res.statusCode, 201)
  }
  await app.audit.seal()
}

const BOUND = { maxDelayMs: 5000 }
const positions = async (app: Awaited<ReturnType<typeof build>>) =>
  (await app.db.primary.query<{ position: number }>('SELECT position FROM audit_chain ORDER BY position')).rows.map(
    (r) => r.position
  )

const metric = async (app: Awaited<ReturnType<typeof build>>, name: string) => {
  const text = await app.metrics.registry.metrics()
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'gm'))].reduce(
    (sum, m) => sum + Number(m[1]),
    0
  )
}

test('when sealed entries are older than AUDIT_RETENTION_DAYS, then a run removes them and their links in batches, keeps the rest, and the chain verifies from the oldest kept entry', async (t) => {
  const app = await build(t, {
    AUDIT_RETENTION_DAYS: '30',
    AUDIT_RETENTION_BATCH_SIZE: '2',
    AUDIT_RETENTION_INTERVAL_MS: '0'
  })
  await createCategories(app, 8) // entries 1..9
  // Entries 1..5 are from last year. (Backdating alters them, which no longer matters once they are gone.)
  await app.db.primary.query(
    `UPDATE audit_log SET occurred_at = occurred_at - interval '400 days'
      WHERE id IN (SELECT entry_id FROM audit_chain WHERE position <= 5)`
  )
  assert.equal((await verifyChain(app.db.primary, BOUND)).ok, false)

  const result = await app.audit.runRetention()
  assert.deepEqual(result, { ran: true, removed: 5, keysPruned: 0 })
  assert.deepEqual(await positions(app), [6, 7, 8, 9])
  const { rows } = await app.db.primary.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_log')
  assert.equal(rows[0]?.n, 4)
  assert.deepEqual(await verifyChain(app.db.primary, BOUND), {
    ok: true,
    checked: 4,
    firstPosition: 6,
    lastPosition: 9,
    unsealed: 0
  })
  assert.equal(await metric(app, 'audit_retention_rows_removed_total'), 5)
  assert.equal(await metric(app, 'audit_retention_runs_total'), 1)
  assert.equal(await metric(app, 'audit_entries_written_total'), 8)

  // New entries continue the chain after retention.
  await createCategories(app, 1)
  assert.deepEqual(await verifyChain(app.db.primary, BOUND), {
    ok: true,
    checked: 6,
    firstPosition: 6,
    lastPosition: 11,
    unsealed: 0
  })
})

test('when an old entry follows a recent one in the chain, then retention stops there so the kept chain has no hole', async (t) => {
  const app = await build(t, { AUDIT_RETENTION_DAYS: '30', AUDIT_RETENTION_INTERVAL_MS: '0' })
  await createCategories(app, 4)
  await app.db.primary.query(
    `UPDATE audit_log SET occurred_at = occurred_at - interval '400 days'
      WHERE id IN (SELECT entry_id FROM audit_chain WHERE position IN (1, 2, 4))`
  )
  assert.equal((await app.audit.runRetention()).removed, 2)
  assert.deepEqual(await positions(app), [3, 4, 5])
})

test('when old entries are not sealed yet, then retention leaves them for the sealer', async (t) => {
  const app = await build(t, {
    AUDIT_RETENTION_DAYS: '30',
    AUDIT_RETENTION_INTERVAL_MS: '0',
    AUDIT_SEAL_INTERVAL_MS: '0'
  })
  await createCategories(app, 2)
  const key = await apiKey(app, 'admin')
  await app.inject({ method: 'POST', url: '/api/v1/categories', headers: bearer(key), payload: { name: 'Unsealed' } })
  await app.db.primary.query(`UPDATE audit_log SET occurred_at = occurred_at - interval '400 days'`)
  // 3 sealed (removed), 2 unsealed (the second key's creation and the category): kept until sealed.
  assert.equal((await app.audit.runRetention()).removed, 3)
  const { rows } = await app.db.primary.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_log')
  assert.equal(rows[0]?.n, 2)
})

test('when another instance holds the retention lock, then this one skips its run and removes nothing', async (t) => {
  const app = await build(t, { AUDIT_RETENTION_DAYS: '1', AUDIT_RETENTION_INTERVAL_MS: '0' })
  await createCategories(app, 2)
  await app.db.primary.query(`UPDATE audit_log SET occurred_at = occurred_at - interval '2 days'`)
  const other = await connect(t, app.target)
  await other.query('SELECT pg_advisory_lock(7261004)')
  assert.deepEqual(await app.audit.runRetention(), { ran: false, removed: 0, keysPruned: 0 })
  assert.match(await app.metrics.registry.metrics(), /audit_retention_runs_total\{outcome="skipped"\} 1/)
  await other.query('SELECT pg_advisory_unlock(7261004)')
  assert.equal((await app.audit.runRetention()).removed, 3)
})

test('when retention deletes a batch, then a concurrent write is not blocked by it', async (t) => {
  const app = await build(t, { AUDIT_RETENTION_DAYS: '1', AUDIT_RETENTION_INTERVAL_MS: '0' })
  await createCategories(app, 3)
  await app.db.primary.query(`UPDATE audit_log SET occurred_at = occurred_at - interval '2 days'`)
  // Hold a retention batch open in a transaction, as a slow one would be: appends must still go through.
  const slow = await connect(t, app.target)
  await slow.query('BEGIN')
  await slow.query(
    `WITH gone AS (DELETE FROM audit_chain WHERE position <= 2 RETURNING entry_id)
     DELETE FROM audit_log WHERE id IN (SELECT entry_id FROM gone)`
  )
  const key = await apiKey(app, 'admin')
  const started = Date.now()
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/categories',
    headers: bearer(key),
    payload: { name: 'Not blocked' }
  })
  assert.equal(res.statusCode, 201)
  assert.ok(Date.now() - started < 2000)
  await slow.query('ROLLBACK')
})

test('when AUDIT_RETENTION_INTERVAL_MS is set, then the job runs by itself on that interval', async (t) => {
  const app = await build(t, { AUDIT_RETENTION_DAYS: '1', AUDIT_RETENTION_INTERVAL_MS: '100' })
  await createCategories(app, 2)
  await app.db.primary.query(`UPDATE audit_log SET occurred_at = occurred_at - interval '2 days'`)
  const deadline = Date.now() + 5000
  while ((await metric(app, 'audit_retention_rows_removed_total')) < 3 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50))
  assert.equal(await metric(app, 'audit_retention_rows_removed_total'), 3)
  assert.ok((await metric(app, 'audit_retention_runs_total')) >= 1)
})
