import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import type pg from 'pg'
import { loadConfig } from '../../src/config.js'
import { databaseFault } from '../../src/db/errors.js'
import { formatLsn, parseLsn } from '../../src/db/lsn.js'
import { createQueryClassifier, noDbMetrics } from '../../src/db/metrics.js'
import { createPool } from '../../src/db/pool.js'
import { isReplicaFailure, ReplicaSet } from '../../src/db/replicas.js'
import { apiKey, bearer, build } from '../helper.js'

const quiet = { info() {}, warn() {} }
const fakePool = {} as pg.Pool

function set(maxLagMs = 1000, names = ['replica:a', 'replica:b']) {
  const replicas = new ReplicaSet(
    fakePool,
    names.map((name) => ({ name, pool: fakePool })),
    { maxLagMs, log: quiet, metrics: noDbMetrics }
  )
  for (const r of replicas.replicas) Object.assign(r, { up: true, lagMs: 0, replayLsn: parseLsn('0/5000') })
  return replicas
}

test('when WAL positions are parsed, then they order as PostgreSQL orders them and round-trip', () => {
  assert.ok((parseLsn('1/0') ?? 0n) > (parseLsn('0/FFFFFFFF') ?? 0n))
  assert.ok((parseLsn('0/3000148') ?? 0n) > (parseLsn('0/300014') ?? 0n))
  assert.equal(formatLsn(parseLsn('16/B374D848') ?? 0n), '16/B374D848')
  for (const bad of ['', 'abc', '1/2/3', '0/G', '123456789/0', ' ; DROP']) assert.equal(parseLsn(bad), undefined, bad)
})

test('when several replicas are healthy, then reads go round robin among them', () => {
  const replicas = set()
  const picks = Array.from({ length: 6 }, () => replicas.choose({}).replica?.name)
  assert.deepEqual(picks, ['replica:a', 'replica:b', 'replica:a', 'replica:b', 'replica:a', 'replica:b'])
})

test('when forcePrimary is set, or no replica is configured, then reads stay on the primary', async () => {
  assert.deepEqual(set().choose({ forcePrimary: true }), { reason: 'force_primary' })
  assert.deepEqual(set(1000, []).choose({}), { reason: 'no_replica' })
  const replicas = set()
  assert.equal(replicas.choose({ forcePrimary: true }).replica, undefined)
  assert.ok(replicas.choose({}).replica, 'without it, replicas again')
})

test('when a read carries a token, then only a replica that replayed past it may serve it', () => {
  const replicas = set()
  const [a, b] = replicas.replicas
  if (!a || !b) throw new Error('two replicas')
  a.replayLsn = parseLsn('0/4FFF')
  assert.equal(replicas.choose({ minLsn: '0/5000' }).replica?.name, 'replica:b')
  assert.equal(replicas.choose({ minLsn: '0/5000' }).replica?.name, 'replica:b')
  assert.deepEqual(replicas.choose({ minLsn: '0/5001' }), { reason: 'token' })
  assert.deepEqual(replicas.choose({}, '0/6000'), { reason: 'token' }, "the request's own commit counts like a token")
})

test('when a replica lags past DB_REPLICA_MAX_LAG_MS or is down, then it takes no reads', () => {
  const replicas = set(1000)
  const [a, b] = replicas.replicas
  if (!a || !b) throw new Error('two replicas')
  a.lagMs = 1001
  assert.equal(replicas.choose({}).replica?.name, 'replica:b')
  b.up = false
  assert.deepEqual(replicas.choose({}), { reason: 'lagging' })
  a.up = false
  assert.deepEqual(replicas.choose({}), { reason: 'replica_down' })
})

test('when lag is computed, then it is the age of the oldest primary position the replica has not replayed', () => {
  const replicas = set()
  replicas.observePrimary(100n, 1_000)
  replicas.observePrimary(200n, 2_000)
  replicas.observePrimary(300n, 3_000)
  assert.equal(replicas.lagOf(300n, 5_000), 0, 'caught up: no lag however old the last write')
  assert.equal(replicas.lagOf(250n, 5_000), 2_000)
  assert.equal(replicas.lagOf(50n, 5_000), 4_000)
})

test('when a replica refuses a connection, then its breaker trips at once; timeouts trip it after three in a row', () => {
  const replicas = set()
  const [a, b] = replicas.replicas
  if (!a || !b) throw new Error('two replicas')
  replicas.failed(a, Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))
  assert.equal(a.up, false)
  const timeout = new Error('Query read timeout')
  replicas.failed(b, timeout)
  replicas.failed(b, timeout)
  assert.equal(b.up, true)
  replicas.failed(b, timeout)
  assert.equal(b.up, false)
})

test('when a replica read fails, then only availability faults are retried on the primary, never a read-only refusal', () => {
  for (const code of ['ECONNREFUSED', '57P01', '57P03', '08006', '40001', '53300'])
    assert.equal(isReplicaFailure({ code }), true, code)
  assert.equal(isReplicaFailure(new Error('Query read timeout')), true)
  assert.equal(isReplicaFailure({ code: '25006' }), false)
  assert.equal(isReplicaFailure({ code: '23505' }), false)
  assert.equal(isReplicaFailure({ code: '42P01' }), false)
})

test('when PostgreSQL or pg-pool report an availability fault, then it maps to 503 (or 504 for a timeout) with Retry-After', () => {
  const cases: [string, object, number][] = [
    ['starting up', { code: '57P03', message: 'the database system is starting up' }, 503],
    ['admin shutdown', { code: '57P01' }, 503],
    ['too many connections', { code: '53300', message: 'sorry, too many clients already' }, 503],
    ['connection failure', { code: '08006' }, 503],
    ['cannot connect now', { code: '08001' }, 503],
    ['refused', { code: 'ECONNREFUSED' }, 503],
    ['demoted primary', { code: '25006', message: 'cannot execute INSERT in a read-only transaction' }, 503],
    ['pool exhausted', { message: 'timeout exceeded when trying to connect' }, 503],
    ['dropped', { message: 'Connection terminated unexpectedly' }, 503],
    ['statement timeout', { code: '57014', message: 'canceling statement due to statement timeout' }, 504],
    ['query timeout', { message: 'Query read timeout' }, 504]
  ]
  for (const [what, err, status] of cases) {
    const fault = databaseFault(err)
    assert.equal(fault?.status, status, what)
    assert.equal(fault?.headers?.['retry-after'], '1', what)
  }
  assert.equal(databaseFault({ code: '23505' }), undefined)
})

test('when queries are labelled, then operation and table come from the first keyword and table, with bounded values', () => {
  const classify = createQueryClassifier()
  assert.deepEqual(classify('SELECT * FROM products WHERE id = $1'), { operation: 'select', table: 'products' })
  assert.deepEqual(classify('\n  INSERT INTO categories (name) VALUES ($1)'), {
    operation: 'insert',
    table: 'categories'
  })
  assert.deepEqual(classify('UPDATE products SET x = 1'), { operation: 'update', table: 'products' })
  assert.deepEqual(classify('WITH RECURSIVE t AS (SELECT id FROM categories) SELECT * FROM t'), {
    operation: 'with',
    table: 'categories'
  })
  assert.deepEqual(classify('WITH p AS (INSERT INTO products (name) VALUES (1) RETURNING id) SELECT * FROM p'), {
    operation: 'insert',
    table: 'products'
  })
  assert.deepEqual(classify('BEGIN;\nSELECT api_key_must_be_active(7);\nUPDATE product_variants SET stock = 1'), {
    operation: 'update',
    table: 'product_variants'
  })
  assert.deepEqual(classify('BEGIN'), { operation: 'begin', table: 'none' })
  assert.deepEqual(classify('SELECT pg_current_wal_lsn()'), { operation: 'select', table: 'none' })
  assert.deepEqual(classify('SELECT * FROM unnest($1::int[]) AS u'), { operation: 'select', table: 'none' })
  assert.deepEqual(classify('VACUUM products'), { operation: 'other', table: 'none' })
  for (let i = 0; i < 100; i++) classify(`SELECT 1 FROM t${i}`)
  assert.equal(classify('SELECT 1 FROM brand_new_table').table, 'other', 'past the cap, new tables are "other"')
})

test('when no replica is configured, then reader() is the primary and the routing metric says so', async (t) => {
  const app = await build(t)
  assert.equal(app.db.reader(), app.db.primary)
  const res = await app.inject({ method: 'GET', url: '/api/v1/products' })
  assert.equal(res.statusCode, 200)
  const metrics = await app.metrics.registry.getSingleMetricAsString('db_read_routing_total')
  assert.match(metrics, /db_read_routing_total\{decision="primary",reason="no_replica"\} [1-9]/)
  const pools = await app.metrics.registry.getSingleMetricAsString('db_pool_clients')
  assert.match(pools, /db_pool_clients\{pool="primary",state="total"\} [1-9]/)
  assert.match(pools, /db_pool_clients\{pool="primary",state="waiting"\} 0/)
  const queries = await app.metrics.registry.getSingleMetricAsString('db_query_duration_seconds')
  assert.match(
    queries,
    /db_query_duration_seconds_count\{pool="primary",operation="select",table="products",outcome="ok"\} [1-9]/
  )
  const acquire = await app.metrics.registry.getSingleMetricAsString('db_pool_acquire_seconds')
  assert.match(acquire, /db_pool_acquire_seconds_count\{pool="primary",outcome="ok"\} [1-9]/)
})

test('when pools are made, then every timeout, keepalive, max lifetime and TLS with the CA bundle are set; replica pools fail fast', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'catalog-ca-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const ca = join(dir, 'ca.pem')
  await writeFile(ca, '-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n')
  const config = loadConfig({
    DB_SSL: 'true',
    DB_SSL_CA_FILE: ca,
    DB_STATEMENT_TIMEOUT: '1234',
    DB_QUERY_TIMEOUT: '2345',
    DB_CONNECTION_TIMEOUT: '3456',
    DB_MAX_LIFETIME_SECONDS: '600'
  })
  const target = { host: '127.0.0.1', port: 1, user: 'u', password: '', database: 'd' }
  const log = { warn() {} }
  const primary = createPool(config, target, { max: 5, name: 'primary', log })
  const replica = createPool(config, target, { max: 5, name: 'replica:x', log, fastFailMs: 1000 })
  t.after(() => Promise.all([primary.end(), replica.end()]))
  const p = primary.options as unknown as Record<string, unknown>
  assert.equal(p.statement_timeout, 1234)
  assert.equal(p.query_timeout, 2345)
  assert.equal(p.connectionTimeoutMillis, 3456)
  assert.equal(p.maxLifetimeSeconds, 600)
  assert.equal(p.keepAlive, true)
  assert.deepEqual(p.ssl, {
    rejectUnauthorized: true,
    ca: '-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n'
  })
  const r = replica.options as unknown as Record<string, unknown>
  assert.equal(r.query_timeout, 1000)
  assert.equal(r.connectionTimeoutMillis, 1000)
  assert.equal(r.statement_timeout, 1000)
  assert.equal(r.maxLifetimeSeconds, 600)
  assert.equal(r.keepAlive, true)
})

test('when a write succeeds without any replica, then it still carries a consistency token, and reads accept it (or ignore a malformed one)', async (t) => {
  const app = await build(t, { CORS_ORIGIN: 'https://shop.example' })
  const key = await apiKey(app)
  const created = await app.inject({
    method: 'POST',
    url: '/api/v1/categories',
    headers: bearer(key),
    payload: { name: 'Token test' }
  })
  assert.equal(created.statusCode, 201)
  const token = String(created.headers['x-consistency-token'])
  assert.match(token, /^[0-9A-F]+\/[0-9A-F]+$/)
  const id = created.json().data.id
  for (const header of [token, 'garbage']) {
    const res = await app.inject({
      method: 'GET',
      url: `/api/v1/categories/${id}`,
      headers: { 'x-consistency-token': header }
    })
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers['x-consistency-token'], undefined, 'reads do not issue tokens')
  }
  // Browsers may send it back (preflight allows it) and read it (exposed).
  const preflight = await app.inject({
    method: 'OPTIONS',
    url: '/api/v1/products',
    headers: {
      origin: 'https://shop.example',
      'access-control-request-method': 'GET',
      'access-control-request-headers': 'x-consistency-token'
    }
  })
  assert.match(String(preflight.headers['access-control-allow-headers']), /x-consistency-token/)
})
