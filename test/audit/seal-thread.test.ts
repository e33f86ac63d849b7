import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Worker } from 'node:worker_threads'
import pg from 'pg'
import { loadConfig } from '../../src/config.js'
import { freePort } from '../../src/lib/free-port.js'
import { SealThread } from '../../src/writes/seal-thread.js'
import { QUEUE_VACUUM_EVERY, SEAL_BATCH_SIZE } from '../../src/writes/sealer.js'
import { verifyChain } from '../../src/writes/verify.js'
import { apiKey, build, type TestApp } from '../helper.js'
import { chainRows, createCategory } from './support.js'

const SEALER_APPLICATION = 'catalog-api-sealer'

async function sealerConnections(app: TestApp): Promise<number> {
  const admin = new pg.Client({ ...app.target, database: 'postgres' })
  await admin.connect()
  try {
    const { rows } = await admin.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = $2',
      [app.target.database, SEALER_APPLICATION]
    )
    return rows[0]?.n ?? 0
  } finally {
    await admin.end()
  }
}

const threadOf = (app: TestApp, target = app.target) =>
  new SealThread(
    { config: app.appOptions.config, target, batchSize: SEAL_BATCH_SIZE, events: true },
    { warn: () => {} }
  )

test('when the seal thread is on (the default), then writes are sealed over its own connection, verify passes, and closing the app closes it', async (t) => {
  const app = await build(t)
  const key = await apiKey(app)
  await createCategory(app, key, 'Threaded')
  await app.audit.seal()
  assert.equal((await chainRows(app)).length, 2, 'the key and the category are sealed')
  assert.equal(await sealerConnections(app), 1, 'the pass ran on the seal thread’s connection')
  assert.equal((await verifyChain(app.db.primary, { maxDelayMs: 5000 })).ok, true)
  await app.close()
  assert.equal(await sealerConnections(app), 0, 'the thread closed its connection with the app')
})

test('when AUDIT_SEAL_THREAD=false, then the main thread seals with a connection of the primary pool', async (t) => {
  const app = await build(t, { AUDIT_SEAL_THREAD: 'false' })
  const key = await apiKey(app)
  await createCategory(app, key, 'Unthreaded')
  await app.audit.seal()
  assert.equal((await chainRows(app)).length, 2)
  assert.equal(await sealerConnections(app), 0)
})

test('when the seal thread dies with a pass owed, then that pass fails and the next one starts a new thread that seals', async (t) => {
  const app = await build(t, { AUDIT_SEAL_INTERVAL_MS: '0' })
  const key = await apiKey(app)
  await createCategory(app, key, 'Before the crash')
  const thread = threadOf(app)
  t.after(() => thread.close())
  const owed = thread.pass()
  // The thread is still loading: it dies before it can answer.
  const first = (thread as unknown as { worker: Worker }).worker
  await first.terminate()
  await assert.rejects(owed, /the seal thread exited/)
  assert.equal((await chainRows(app)).length, 0, 'nothing sealed by the dead thread')

  const result = await thread.pass()
  assert.equal(result.sealed, 2)
  assert.notEqual((thread as unknown as { worker: Worker }).worker, first, 'a new thread')
  await createCategory(app, key, 'After the crash')
  assert.equal((await thread.pass()).sealed, 1)
  assert.deepEqual(
    (await chainRows(app)).map((r) => r.position),
    [1, 2, 3]
  )
})

test('when the thread has sealed as many entries as its queue vacuum asks for, then its pass vacuums the queue and the app counts it', async (t) => {
  const app = await build(t, { AUDIT_SEAL_INTERVAL_MS: '0' })
  const key = await apiKey(app)
  await createCategory(app, key, 'Vacuumed')
  const thread = new SealThread(
    {
      config: app.appOptions.config,
      target: app.target,
      batchSize: SEAL_BATCH_SIZE,
      events: true,
      queueVacuumEvery: 3
    },
    { warn: () => {} }
  )
  t.after(() => thread.close())
  const first = await thread.pass()
  assert.deepEqual([first.sealed, first.vacuumed], [2, false])
  await createCategory(app, key, 'Vacuumed too')
  const second = await thread.pass()
  assert.deepEqual([second.sealed, second.vacuumed], [1, true])

  // The app's own thread vacuums at QUEUE_VACUUM_EVERY: its counter is there from the start, at 0.
  assert.match(await app.metrics.registry.metrics(), /^audit_seal_queue_vacuums_total 0$/m)
})

test('when the app has sealed QUEUE_VACUUM_EVERY entries, then its own sealer vacuums the queue once, and not again before as many more', async (t) => {
  // A pass walks every entry sealed since the last vacuum: measured under writes, a run every 10,000 entries left
  // that walk most of the seal connection's PostgreSQL time (docs/architecture.md, "The sealer vacuums its queue").
  assert.ok(QUEUE_VACUUM_EVERY <= 1000, `the queue is vacuumed every ${QUEUE_VACUUM_EVERY} entries`)
  const app = await build(t, { AUDIT_SEAL_INTERVAL_MS: '0' })
  const queue = (n: number) =>
    app.db.primary.query(
      `WITH entries AS (
         INSERT INTO audit_log (occurred_at, action, entity_type, entity_id, actor_type, actor_name, new_values, changed_fields)
         SELECT clock_timestamp(), 'create', 'category', g, 'system', 'test', json_build_object('id', g), ARRAY['id']
           FROM generate_series(1, $1::integer) g
         RETURNING id
       )
       INSERT INTO audit_pending (entry_id) SELECT id FROM entries`,
      [n]
    )
  const vacuums = async () =>
    Number(/^audit_seal_queue_vacuums_total (\d+)$/m.exec(await app.metrics.registry.metrics())?.[1])

  await queue(QUEUE_VACUUM_EVERY - 1)
  await app.audit.seal()
  assert.equal(await vacuums(), 0, 'one entry short of the count')
  await queue(1)
  await app.audit.seal()
  assert.equal(await vacuums(), 1)
  await queue(QUEUE_VACUUM_EVERY - 1)
  await app.audit.seal()
  assert.equal(await vacuums(), 1, 'the count starts again after a vacuum')
  assert.equal((await chainRows(app)).length, 2 * QUEUE_VACUUM_EVERY - 1)
  assert.equal((await verifyChain(app.db.primary, { maxDelayMs: 60_000 })).ok, true)
})

test('when a pass takes a full batch of large entries (products of many variants, as an import writes them), then the thread seals them all', async (t) => {
  const app = await build(t, { AUDIT_SEAL_INTERVAL_MS: '0' })
  // 250 entries of about 70 KB of JSON each: one pass holds some 17 MB of text and several times that parsed.
  await app.db.primary.query(
    `WITH entries AS (
       INSERT INTO audit_log (occurred_at, action, entity_type, entity_id, actor_type, actor_name, new_values, changed_fields)
       SELECT clock_timestamp(), 'create', 'product', g, 'system', 'import',
              (SELECT json_build_object('id', g, 'variants', json_agg(json_build_object(
                        'id', v, 'sku', 'SKU-' || g || '-' || v, 'title', repeat('t', 40),
                        'prices', json_build_array(json_build_object('currency', 'USD', 'amountCents', v))) ORDER BY v))
                 FROM generate_series(1, 500) v),
              ARRAY['variants']
         FROM generate_series(1, 250) g
       RETURNING id
     )
     INSERT INTO audit_pending (entry_id) SELECT id FROM entries`
  )
  const thread = threadOf(app)
  t.after(() => thread.close())
  const result = await thread.pass()
  assert.equal(result.sealed, 250)
  assert.equal((await verifyChain(app.db.primary, { maxDelayMs: 60_000 })).ok, true)
})

test('when the database does not answer, then a pass on the thread fails with the connection error instead of hanging', async (t) => {
  const app = await build(t, { AUDIT_SEAL_INTERVAL_MS: '0' })
  const closed = { ...app.target, port: await freePort() }
  const thread = new SealThread(
    {
      config: loadConfig({ ...process.env, NODE_ENV: 'test', DB_CONNECTION_TIMEOUT: '2000' }),
      target: closed,
      batchSize: SEAL_BATCH_SIZE,
      events: true
    },
    { warn: () => {} }
  )
  t.after(() => thread.close())
  await assert.rejects(thread.pass(), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ECONNREFUSED', err.message)
    return true
  })
  // The thread survives a failed pass: the next one runs on it (and fails the same way).
  await assert.rejects(thread.pass(), { code: 'ECONNREFUSED' })
})
