// Database faults answer 503/504 problem+json with Retry-After, never 500, never a hang, never a crash.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import type { LightMyRequestResponse } from 'fastify'
import { build, connect, createTestDatabase, defer } from '../helper.js'
import { withTestRoutes } from '../test-routes.js'
import { refusingPostgres } from '../fake-postgres.js'
import { ownPrimary } from '../pg-cluster.js'
import { startServer } from '../server-process.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The real server on `primary` with an admin key, whose database waits are bounded at 1 s. */
async function startWriter(t: Parameters<typeof startServer>[0], primary: Parameters<typeof startServer>[1], env = {}) {
  const key = `test-admin-${randomBytes(16).toString('hex')}`
  const server = await startServer(t, primary, {
    BOOTSTRAP_ADMIN_API_KEY: key,
    DB_CONNECTION_TIMEOUT: '1000',
    LOG_LEVEL: 'warn',
    ...env
  })
  /** POST /api/v1/products of a one-variant product with `sku`. */
  const create = (sku: string, name: string) =>
    fetch(`${server.url}/api/v1/products`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sku, name, priceCents: 1, currency: 'USD' })
    })
  return { server, create }
}

function assertUnavailable(res: LightMyRequestResponse, code = 'DATABASE_UNAVAILABLE') {
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/)
  assert.equal(res.json().code, code)
  assert.equal(res.headers['retry-after'], '1')
}

test('when every pool connection is busy, then a request waits at most DB_CONNECTION_TIMEOUT and gets 503 with Retry-After', async (t) => {
  const app = await build(t, { DB_POOL_MAX: '1', DB_CONNECTION_TIMEOUT: '300' }, undefined, withTestRoutes)
  const holder = app.inject({ method: 'GET', url: '/test/db-sleep?ms=1500' })
  await sleep(150)
  const started = performance.now()
  const res = await app.inject({ method: 'GET', url: '/api/v1/products' })
  const ms = performance.now() - started
  assert.equal(res.statusCode, 503)
  assertUnavailable(res)
  assert.ok(ms < 1000, `answered after ${Math.round(ms)} ms`)
  assert.equal((await holder).statusCode, 200)
  assert.equal((await app.inject({ method: 'GET', url: '/api/v1/products' })).statusCode, 200, 'the pool serves again')
  assert.ok(
    (await app.metrics.registry.getSingleMetricAsString('db_pool_acquire_seconds')).includes(
      'pool="primary",outcome="error"'
    ),
    'the failed acquire is counted'
  )
})

test('when a statement runs past DB_STATEMENT_TIMEOUT, then the server cancels it and the client gets 504 at once', async (t) => {
  const app = await build(t, { DB_STATEMENT_TIMEOUT: '300' }, undefined, withTestRoutes)
  const started = performance.now()
  const res = await app.inject({ method: 'GET', url: '/test/db-sleep?ms=5000' })
  const ms = performance.now() - started
  assert.equal(res.statusCode, 504)
  assertUnavailable(res, 'DATABASE_TIMEOUT')
  assert.ok(ms < 2000, `answered after ${Math.round(ms)} ms`)
  assert.equal((await app.inject({ method: 'GET', url: '/api/v1/products' })).statusCode, 200)
})

test('when the database refuses the connection as "too many connections", then 503 with Retry-After', async (t) => {
  const target = await createTestDatabase(t)
  const admin = await connect(t, { ...target, database: 'postgres' })
  const role = `catalog_limited_${randomBytes(4).toString('hex')}`
  await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'limited' CONNECTION LIMIT 0`)
  defer(t, () => admin.query(`DROP ROLE IF EXISTS ${role}`))
  const app = await build(t, {}, { ...target, user: role, password: 'limited' })
  const res = await app.inject({ method: 'GET', url: '/api/v1/products' })
  assert.equal(res.statusCode, 503)
  assertUnavailable(res)
})

for (const [code, message] of [
  ['57P03', 'the database system is starting up'],
  ['53300', 'sorry, too many clients already']
]) {
  test(`when the server answers a connection with ${code} (${message}), then 503 with Retry-After`, async (t) => {
    const port = await refusingPostgres(t, code as string, message as string)
    const app = await build(t, {}, { host: '127.0.0.1', port, user: 'postgres', password: '', database: 'catalog' })
    const res = await app.inject({ method: 'GET', url: '/api/v1/products' })
    assert.equal(res.statusCode, 503)
    assertUnavailable(res)
  })
}

test('when the primary stops for a few seconds under write load, then the process lives, writes get 503 problem+json (no 500), and succeed once it is back', async (t) => {
  const primary = await ownPrimary(t)
  const { server, create } = await startWriter(t, primary.target)
  const results: { status: number; at: number; code?: string; retryAfter: string | null; type: string | null }[] = []
  const t0 = Date.now()
  let stop = false
  let n = 0
  const writer = async () => {
    while (!stop) {
      n++
      const res = await create(`OUT-${n}-${randomBytes(3).toString('hex')}`, 'Outage')
      const body = (await res.json()) as { code?: string }
      results.push({
        status: res.status,
        at: Date.now() - t0,
        code: body.code,
        retryAfter: res.headers.get('retry-after'),
        type: res.headers.get('content-type')
      })
      await sleep(20)
    }
  }
  const load = Promise.all([writer(), writer(), writer()])
  await sleep(1000)
  const stoppedAt = Date.now() - t0
  await primary.stop()
  await sleep(3000)
  await primary.start()
  const backAt = Date.now() - t0
  await sleep(3000)
  stop = true
  await load

  assert.equal(server.child.exitCode, null, 'the process survived')
  const statuses = [...new Set(results.map((r) => r.status))].sort()
  assert.deepEqual(statuses, [201, 503], `statuses seen: ${statuses.join(', ')}`)
  const unavailable = results.filter((r) => r.status === 503)
  assert.ok(unavailable.length >= 3, `${unavailable.length} writes answered 503 during the outage`)
  for (const r of unavailable) {
    assert.equal(r.code, 'DATABASE_UNAVAILABLE')
    assert.equal(r.retryAfter, '1')
    assert.match(String(r.type), /^application\/problem\+json/)
  }
  assert.ok(
    results.some((r) => r.status === 201 && r.at < stoppedAt),
    'writes succeeded before'
  )
  const afterBack = results.filter((r) => r.at > backAt + 1500)
  assert.ok(
    afterBack.length >= 5 && afterBack.every((r) => r.status === 201),
    'writes succeed again once the primary is back'
  )
  assert.equal((await fetch(`${server.url}/health`)).status, 200)
})

test('when the primary stops under concurrent creates written in batches, then each answers 201 or 503 and every 201 is stored once it is back', async (t) => {
  const primary = await ownPrimary(t)
  // One create transaction at a time: the writers' creates wait and go together (writes/coalescer.ts).
  const { server, create } = await startWriter(t, primary.target, { WRITE_BATCHES_IN_FLIGHT: '1' })
  const acknowledged: string[] = []
  const statuses = new Set<number>()
  let slowest = 0
  let stop = false
  let n = 0
  const writer = async () => {
    while (!stop) {
      const sku = `BOUT-${++n}-${randomBytes(3).toString('hex')}`
      const started = Date.now()
      const res = await create(sku, 'Batched outage')
      slowest = Math.max(slowest, Date.now() - started)
      statuses.add(res.status)
      const body = (await res.json()) as { code?: string }
      if (res.status === 201) acknowledged.push(sku)
      else assert.equal(body.code, 'DATABASE_UNAVAILABLE', `a ${res.status} ${JSON.stringify(body)}`)
      if (res.status !== 201) await sleep(50)
    }
  }
  const load = Promise.all(Array.from({ length: 8 }, writer))
  await sleep(1000)
  await primary.stop()
  await sleep(2000)
  await primary.start()
  await sleep(2000)
  stop = true
  await load

  assert.equal(server.child.exitCode, null, 'the process survived')
  assert.deepEqual([...statuses].sort(), [201, 503])
  assert.ok(slowest < 10_000, `the slowest answer took ${slowest} ms`)
  const client = await connect(t, primary.target)
  const { rows } = await client.query<{ sku: string; tx: string }>(
    'SELECT sku, xmin::text AS tx FROM product_variants WHERE sku = ANY($1::text[])',
    [acknowledged]
  )
  assert.equal(rows.length, acknowledged.length, 'every acknowledged create is stored')
  assert.ok(new Set(rows.map((r) => r.tx)).size < rows.length, 'creates were written in batches')
})
