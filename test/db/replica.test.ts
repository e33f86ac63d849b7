// Against a real streaming replica made for this file (test/pg-cluster.ts): routing, read-your-writes,
// lag, fallback when the replica stops or goes silent, degraded readiness, a demoted primary, shutdown.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import pg from 'pg'
import { createApiKey } from '../../src/modules/api-keys/service.js'
import { apiKey, bearer, build, type TestApp } from '../helper.js'
import { query, type StreamingPair, streamingPairForFile } from '../pg-cluster.js'
import { tcpProxy } from '../tcp-proxy.js'
import { parseLsn } from '../../src/db/lsn.js'
import { metricLabels, metricSum } from './metrics-util.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const TOKEN = 'x-consistency-token'

let pair: StreamingPair
const fileHooks = streamingPairForFile((made) => {
  pair = made
})

let seq = 0
// These tests are about the database tier: with the response cache on, repeated reads would not reach it.
const replicaEnv = (env: Record<string, string> = {}) => ({
  CACHE_ENABLED: 'false',
  DB_READ_REPLICA_HOST: '127.0.0.1',
  DB_READ_REPLICA_PORT: String(pair.replica.port),
  ...env
})
const appOn = (t: Parameters<typeof build>[0], env: Record<string, string> = {}) =>
  build(t, replicaEnv(env), pair.primary.target)

async function createProduct(app: TestApp, key: string) {
  seq++
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/products',
    headers: bearer(key),
    payload: {
      sku: `RR-${process.pid}-${seq}`,
      name: `Replica test ${seq}`,
      priceCents: 100,
      currency: 'USD',
      status: 'active'
    }
  })
  assert.equal(res.statusCode, 201, res.body)
  return { id: res.json().data.id as number, token: res.headers[TOKEN] as string | undefined }
}

async function replicaStats() {
  const [row] = await query<{ commits: number; rollbacks: number }>(
    { ...pair.replica.target, database: 'postgres' },
    "SELECT xact_commit::int AS commits, xact_rollback::int AS rollbacks FROM pg_stat_database WHERE datname = 'catalog'"
  )
  return row ?? { commits: 0, rollbacks: 0 }
}

test('when products are written and browsed, then reads land on the replica and writes on the primary, counted on each', async (t) => {
  const app = await appOn(t)
  const key = await apiKey(app)
  const ids: number[] = []
  for (let i = 0; i < 5; i++) ids.push((await createProduct(app, key)).id)
  await pair.caughtUp()
  const before = await replicaStats()
  for (let i = 0; i < 40; i++) {
    const res = await app.inject({ method: 'GET', url: `/api/v1/products/${ids[i % ids.length]}` })
    assert.equal(res.statusCode, 200)
  }
  const list = await app.inject({ method: 'GET', url: '/api/v1/products?limit=5' })
  assert.equal(list.statusCode, 200)

  assert.ok((await metricSum(app, 'db_read_routing_total', { decision: 'replica' })) >= 41)
  assert.equal(await metricSum(app, 'db_read_routing_total', { decision: 'primary' }), 0)
  const replicaReads = await metricSum(app, 'db_query_duration_seconds', {
    pool: 'replica:127.0.0.1',
    operation: 'select',
    table: 'products'
  })
  assert.ok(replicaReads >= 41, `replica product reads: ${replicaReads}`)
  assert.equal(
    await metricSum(app, 'db_query_duration_seconds', { pool: 'primary', operation: 'select', table: 'products' }),
    0
  )
  assert.ok(
    (await metricSum(app, 'db_query_duration_seconds', { pool: 'primary', operation: 'insert', table: 'products' })) >=
      5
  )
  // A write is never sent to the replica: only SELECTs went through its pool.
  const replicaOps = (await metricLabels(app, 'db_query_duration_seconds')).filter(
    (l) => l.pool === 'replica:127.0.0.1'
  )
  assert.deepEqual([...new Set(replicaOps.map((l) => l.operation))], ['select'])

  // Counted on the replica server itself: backends flush their statistics when they end, so close the pools.
  await app.close()
  let now = await replicaStats()
  for (let i = 0; i < 100 && now.commits - before.commits < 41; i++) {
    await sleep(100)
    now = await replicaStats()
  }
  assert.ok(now.commits - before.commits >= 41, `replica server transactions: ${now.commits - before.commits}`)
  assert.equal(now.rollbacks - before.rollbacks, 0, 'nothing failed on the replica (a write there would roll back)')
})

test('when two replica hosts are configured, then reads are spread between both pools', async (t) => {
  const app = await appOn(t, { DB_READ_REPLICA_HOST: '127.0.0.1,127.0.0.2' })
  for (let i = 0; i < 40; i++)
    assert.equal((await app.inject({ method: 'GET', url: '/api/v1/categories' })).statusCode, 200)
  const a = await metricSum(app, 'db_query_duration_seconds', { pool: 'replica:127.0.0.1', table: 'categories' })
  const b = await metricSum(app, 'db_query_duration_seconds', { pool: 'replica:127.0.0.2', table: 'categories' })
  assert.equal(a + b, 40)
  assert.ok(a >= 15 && b >= 15, `spread ${a} / ${b}`)
})

test('when the replica replays 1.5 s late, then 50 reads right after a write with its token are all fresh, and without it they are stale', async (t) => {
  const app = await appOn(t, { DB_REPLICA_MAX_LAG_MS: '60000' })
  const key = await apiKey(app)
  await pair.setApplyDelay(1500)
  t.after(async () => {
    await pair.setApplyDelay(0)
    await pair.caughtUp()
  })
  let fresh = 0
  for (let i = 0; i < 50; i++) {
    const { id, token } = await createProduct(app, key)
    assert.match(String(token), /^[0-9A-F]+\/[0-9A-F]+$/)
    const res = await app.inject({ method: 'GET', url: `/api/v1/products/${id}`, headers: { [TOKEN]: String(token) } })
    if (res.statusCode === 200) fresh++
  }
  assert.equal(fresh, 50)

  let stale = 0
  for (let i = 0; i < 50; i++) {
    const { id } = await createProduct(app, key)
    const res = await app.inject({ method: 'GET', url: `/api/v1/products/${id}` })
    if (res.statusCode === 404) stale++
  }
  assert.ok(stale >= 40, `without the token ${stale}/50 reads were stale: the replica really served them`)

  // Updates and deletes carry the token too.
  const { id } = await createProduct(app, key)
  const patched = await app.inject({
    method: 'PATCH',
    url: `/api/v1/products/${id}`,
    headers: bearer(key),
    payload: { name: 'Renamed now' }
  })
  assert.equal(patched.statusCode, 200)
  const read = await app.inject({
    method: 'GET',
    url: `/api/v1/products/${id}`,
    headers: { [TOKEN]: String(patched.headers[TOKEN]) }
  })
  assert.equal(read.json().data.name, 'Renamed now')
  const admin = await apiKey(app, 'admin')
  const deleted = await app.inject({ method: 'DELETE', url: `/api/v1/products/${id}`, headers: bearer(admin) })
  assert.equal(deleted.statusCode, 204)
  assert.ok(deleted.headers[TOKEN])
  const gone = await app.inject({
    method: 'GET',
    url: `/api/v1/products/${id}`,
    headers: { [TOKEN]: String(deleted.headers[TOKEN]) }
  })
  assert.equal(gone.statusCode, 404)
})

test('when the response cache is on and the replica replays late, then reads after a write are never stale, and fills use the replica once it caught up', async (t) => {
  const app = await appOn(t, { CACHE_ENABLED: 'true', DB_REPLICA_MAX_LAG_MS: '60000' })
  const key = await apiKey(app)
  const { id } = await createProduct(app, key)
  await pair.caughtUp()
  await pair.setApplyDelay(1500)
  t.after(async () => {
    await pair.setApplyDelay(0)
    await pair.caughtUp()
  })
  for (let i = 0; i < 10; i++) {
    const name = `Cached rename ${i}`
    const patched = await app.inject({
      method: 'PATCH',
      url: `/api/v1/products/${id}`,
      headers: bearer(key),
      payload: { name }
    })
    assert.equal(patched.statusCode, 200)
    // No token: the cache is coherent on its own, so the fill after the write cannot come from the lagging replica.
    const read = await app.inject({ method: 'GET', url: `/api/v1/products/${id}` })
    assert.equal(read.json().data.name, name, `read ${i} after the write is fresh`)
  }
  await pair.setApplyDelay(0)
  await pair.caughtUp()
  // Other writes keep moving the primary's position (here every 20 ms, as under production traffic), so the last
  // poll is always behind the position a fill asks for: the fill must read the replica's position again to use it.
  const noise = new pg.Client({ ...pair.primary.target, database: 'postgres' })
  await noise.connect()
  await noise.query('CREATE TABLE IF NOT EXISTS wal_noise (n int)')
  let writing = true
  const noiseLoop = (async () => {
    while (writing) {
      await noise.query('INSERT INTO wal_noise VALUES (1)')
      await sleep(20)
    }
  })()
  t.after(async () => {
    writing = false
    await noiseLoop
    await noise.end()
  })
  // Each round writes, waits for replay and more than one poll interval, then reads; every read must be fresh,
  // and within a few rounds a fill must come from the replica.
  let servedByReplica = false
  for (let round = 0; round < 8 && !servedByReplica; round++) {
    const description = `round ${round}`
    const before = await metricSum(app, 'db_read_routing_total', { decision: 'replica' })
    await app.inject({ method: 'PATCH', url: `/api/v1/products/${id}`, headers: bearer(key), payload: { description } })
    await pair.caughtUp()
    await sleep(1200)
    const read = await app.inject({ method: 'GET', url: `/api/v1/products/${id}` })
    assert.equal(read.json().data.description, description, `round ${round}: the read after the write is fresh`)
    servedByReplica = (await metricSum(app, 'db_read_routing_total', { decision: 'replica' })) > before
  }
  assert.ok(servedByReplica, 'a fill was served by the caught-up replica')
})

test('when the replica lags more than DB_REPLICA_MAX_LAG_MS, then it takes no reads until it catches up', async (t) => {
  const app = await appOn(t, { DB_REPLICA_MAX_LAG_MS: '400' })
  const key = await apiKey(app)
  await pair.setApplyDelay(2500)
  t.after(() => pair.setApplyDelay(0))
  const { id } = await createProduct(app, key)
  await sleep(1200) // two polls see the primary ahead of the replica for longer than 400 ms
  const res = await app.inject({ method: 'GET', url: `/api/v1/products/${id}` })
  assert.equal(res.statusCode, 200, 'served by the primary, so fresh even without a token')
  assert.ok((await metricSum(app, 'db_read_routing_total', { decision: 'primary', reason: 'lagging' })) >= 1)
  const lag = await metricSum(app, 'db_replica_lag_seconds', { replica: 'replica:127.0.0.1' })
  assert.ok(lag >= 0.4, `lag metric ${lag}`)

  await pair.setApplyDelay(0)
  await pair.caughtUp()
  await sleep(1100)
  const before = await metricSum(app, 'db_read_routing_total', { decision: 'replica' })
  assert.equal((await app.inject({ method: 'GET', url: `/api/v1/products/${id}` })).statusCode, 200)
  assert.equal(
    await metricSum(app, 'db_read_routing_total', { decision: 'replica' }),
    before + 1,
    'caught up: reads return to it'
  )
})

async function readLoad(app: TestApp, stop: () => boolean, statuses: number[], latencies: number[]) {
  while (!stop()) {
    const started = performance.now()
    const res = await app.inject({ method: 'GET', url: '/api/v1/products?limit=5' })
    latencies.push(performance.now() - started)
    statuses.push(res.statusCode)
  }
}

test('when the replica stops under read load, then no request fails, readiness shows it degraded, and it is used again once back', async (t) => {
  const app = await appOn(t)
  let stopped = false
  const statuses: number[] = []
  const load = Promise.all(Array.from({ length: 4 }, () => readLoad(app, () => stopped, statuses, [])))
  try {
    await sleep(400)
    await pair.replica.stop()
    await sleep(1000)
    const ready = await app.inject({ method: 'GET', url: '/health/ready' })
    assert.equal(ready.statusCode, 200)
    assert.equal(ready.json().status, 'degraded')
    assert.equal(ready.json().checks['replica:127.0.0.1'].status, 'down')
    assert.equal(ready.json().checks['replica:127.0.0.1'].critical, false)
    assert.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200)
    assert.equal(await metricSum(app, 'db_replica_up', { replica: 'replica:127.0.0.1' }), 0)

    await pair.replica.start()
    const before = await metricSum(app, 'db_read_routing_total', { decision: 'replica' })
    const deadline = Date.now() + 10_000
    while (
      (await metricSum(app, 'db_read_routing_total', { decision: 'replica' })) < before + 20 &&
      Date.now() < deadline
    )
      await sleep(100)
    assert.ok(
      (await metricSum(app, 'db_read_routing_total', { decision: 'replica' })) >= before + 20,
      'reads return to the replica'
    )
    assert.equal((await app.inject({ method: 'GET', url: '/health/ready' })).json().status, 'ready')
  } finally {
    stopped = true
    await load
    await pair.replica.start().catch(() => {})
  }
  const failed = statuses.filter((s) => s !== 200)
  assert.deepEqual(failed, [], `${failed.length} of ${statuses.length} reads failed`)
  assert.ok(statuses.length > 50)
  assert.ok((await metricSum(app, 'db_read_routing_total', { reason: 'replica_down' })) > 0)
})

test('when the replica stops answering (packets dropped), then its reads go to the primary within about a second, with no errors', async (t) => {
  const proxy = await tcpProxy(fileHooks, pair.replica.port)
  const app = await build(
    t,
    { CACHE_ENABLED: 'false', DB_READ_REPLICA_HOST: '127.0.0.1', DB_READ_REPLICA_PORT: String(proxy.port) },
    pair.primary.target
  )
  for (let i = 0; i < 5; i++)
    assert.equal((await app.inject({ method: 'GET', url: '/api/v1/categories' })).statusCode, 200)
  assert.ok((await metricSum(app, 'db_read_routing_total', { decision: 'replica' })) >= 5)

  proxy.blackhole()
  const statuses: number[] = []
  const latencies: number[] = []
  let stopped = false
  const load = Promise.all(Array.from({ length: 4 }, () => readLoad(app, () => stopped, statuses, latencies)))
  await sleep(3000)
  stopped = true
  await load
  assert.deepEqual(
    statuses.filter((s) => s !== 200),
    []
  )
  assert.ok(Math.max(...latencies) < 2200, `slowest read ${Math.round(Math.max(...latencies))} ms`)
  const late = latencies.slice(-20)
  assert.ok(Math.max(...late) < 300, `once the breaker is open reads are fast: ${late.map(Math.round).join(',')}`)

  proxy.pass()
  const before = await metricSum(app, 'db_read_routing_total', { decision: 'replica' })
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline && (await metricSum(app, 'db_read_routing_total', { decision: 'replica' })) === before) {
    await app.inject({ method: 'GET', url: '/api/v1/categories' })
    await sleep(100)
  }
  assert.ok(
    (await metricSum(app, 'db_read_routing_total', { decision: 'replica' })) > before,
    'the replica is used again'
  )
})

test('when the "primary" is a demoted, read-only server, then writes answer 503 problem+json with Retry-After, not 500', async (t) => {
  const client = new pg.Client(pair.primary.target)
  await client.connect()
  const { key } = await createApiKey(client, { name: 'demoted-test', role: 'editor' })
  await client.end()
  await pair.caughtUp()
  const app = await build(t, {}, pair.replica.target)
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/products',
    headers: bearer(key),
    payload: { sku: `RO-${process.pid}`, name: 'Read only', priceCents: 1, currency: 'USD', status: 'active' }
  })
  assert.equal(res.statusCode, 503)
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/)
  assert.equal(res.json().code, 'DATABASE_UNAVAILABLE')
  assert.equal(res.headers['retry-after'], '1')
})

test('when the app closes with a replica read in flight, then the read finishes and both pools end', async (t) => {
  const app = await appOn(t)
  const reader = app.db.reader()
  assert.notEqual(reader, app.db.primary, 'a replica reader')
  const pending = reader.query('SELECT pg_sleep(0.4), 1 AS done')
  const primaryPending = app.db.primary.query('SELECT pg_sleep(0.4), 2 AS done')
  await sleep(50)
  await app.close()
  assert.equal((await pending).rows[0]?.done, 1)
  assert.equal((await primaryPending).rows[0].done, 2)
  assert.equal(app.db.primary.totalCount, 0)
  assert.equal(app.db.replicas.replicas[0]?.pool.totalCount, 0)
})

test('when code asks for the primary with forcePrimary, then its reads skip a healthy replica; outside it they use the replica', async (t) => {
  const app = await appOn(t)
  const forced = app.db.scoped({ forcePrimary: true })
  assert.equal(forced.reader(), app.db.primary)
  assert.equal(forced.scoped({ minLsn: '0/0' }).reader(), app.db.primary, 'a nested scope keeps forcePrimary')
  assert.notEqual(app.db.reader(), app.db.primary)
  assert.ok((await metricSum(app, 'db_read_routing_total', { decision: 'primary', reason: 'force_primary' })) >= 1)
})

test('when the primary stops before a poll saw the replica replay its last write, then fills still come from the replica', async (t) => {
  const app = await appOn(t, { CACHE_ENABLED: 'true' })
  const key = await apiKey(app)
  await pair.caughtUp()
  await sleep(1200) // the replica is up and fresh
  // From here the background poll is stopped, so the positions it saw stay as they are: the primary's last sample
  // is a write the replica had not replayed when it was last polled.
  await app.db.replicas.stop()
  const { id } = await createProduct(app, key)
  const { rows } = await app.db.primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')
  app.db.replicas.observePrimary(parseLsn(rows[0]?.lsn) as bigint, Date.now())
  await pair.caughtUp()
  await pair.primary.stop()
  t.after(() => pair.primary.start())
  const read = await app.inject({ method: 'GET', url: `/api/v1/products/${id}`, headers: bearer(key) })
  assert.equal(read.statusCode, 200, read.body)
})

test('when the primary is down and the response cache is on, then cache misses are filled from the caught-up replica, not refused', async (t) => {
  const app = await appOn(t, { CACHE_ENABLED: 'true' })
  const key = await apiKey(app)
  const { id } = await createProduct(app, key)
  await pair.caughtUp()
  await sleep(1200) // a poll has seen the primary's position and the replica's replay of it
  await pair.primary.stop()
  t.after(() => pair.primary.start())
  // Never read before, so each is a miss whose fill needs a database.
  const one = await app.inject({ method: 'GET', url: `/api/v1/products/${id}` })
  assert.equal(one.statusCode, 200, one.body)
  const list = await app.inject({ method: 'GET', url: '/api/v1/products?limit=5&sort=price' })
  assert.equal(list.statusCode, 200, list.body)
  const write = await app.inject({
    method: 'PATCH',
    url: `/api/v1/products/${id}`,
    headers: bearer(key),
    payload: { description: 'Written' }
  })
  assert.equal(write.statusCode, 503, 'writes still need the primary')
})
