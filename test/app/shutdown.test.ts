import assert from 'node:assert/strict'
import http from 'node:http'
import { test } from 'node:test'
import autocannon from 'autocannon'
import { seedCatalog } from '../../src/db/seed.js'
import { connect, createTestDatabase } from '../helper.js'
import { logLines, startServer } from '../server-process.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function seededDatabase(t: Parameters<typeof createTestDatabase>[0]) {
  const target = await createTestDatabase(t)
  const client = await connect(t, target)
  await seedCatalog(client, { products: 200 })
  return target
}

test('when SIGTERM arrives under load with slow requests in flight, then every accepted request succeeds and the exit code is 0', async (t) => {
  const target = await seededDatabase(t)
  // Request lines at info: the server's own record of every request it accepted and answered.
  const server = await startServer(t, target, { SHUTDOWN_DRAIN_MS: '1000', LOG_LEVEL: 'info' }, { testRoutes: true })

  const client = { ok: 0, failedResponses: 0, refused: 0, reset: 0, otherErrors: [] as string[] }
  const instance = autocannon(
    {
      url: server.url,
      connections: 16,
      duration: 6,
      requests: [
        { method: 'GET', path: '/api/v1/products?limit=20' },
        { method: 'GET', path: '/test/sleep?ms=800' },
        { method: 'GET', path: '/api/v1/products/7' }
      ]
    },
    () => {}
  )
  instance.on('response', (_client: unknown, statusCode: number) => {
    if (statusCode >= 200 && statusCode < 300) client.ok++
    else client.failedResponses++
  })
  instance.on('reqError', (...args: unknown[]) => {
    const err = args[0] as NodeJS.ErrnoException
    // Refused: the listener was closed, the request never reached us. Reset: autocannon reuses a socket
    // after a `Connection: close` response and writes into its closing end; whether such a request was
    // accepted is settled below against the server's own record.
    if (err.code === 'ECONNREFUSED') client.refused++
    else if (err.code === 'ECONNRESET') client.reset++
    else client.otherErrors.push(err.code ?? err.message)
  })
  const done = new Promise<void>((resolve) => instance.on('done', () => resolve()))

  await sleep(1500)
  const signalledAt = Date.now()
  server.child.kill('SIGTERM')
  await sleep(200)
  const ready = await fetch(`${server.url}/health/ready`)
  assert.equal(ready.status, 503, 'readiness turns 503 at once')
  assert.match(ready.headers.get('content-type') ?? '', /^application\/problem\+json/)

  const exit = await server.exited
  const stoppedAfter = Date.now() - signalledAt
  instance.stop()
  await done

  const answered = logLines(server).filter(
    (l) => l.msg === 'request completed' && (String(l.route).startsWith('/api/') || l.route === '/test/sleep')
  )
  const serverFailures = answered.filter((l) => Number(l.status) >= 400)
  t.diagnostic(
    `SIGTERM under load: server accepted and answered ${answered.length} load requests (${serverFailures.length} with an error status); ` +
      `client saw ${client.ok} succeed, ${client.failedResponses} fail, ${client.refused} refused and ${client.reset} reset ` +
      `before the server read them; exit ${exit.code} after ${stoppedAfter} ms`
  )
  assert.equal(exit.code, 0, server.output())
  assert.ok(client.ok > 20, `the load ran (${client.ok} ok)`)
  assert.deepEqual(client.otherErrors, [])
  assert.equal(client.failedResponses, 0, 'no error response')
  assert.deepEqual(serverFailures, [], 'every accepted request succeeded on the server')
  // Every request the server accepted reached the client as a success: the resets were never accepted.
  assert.equal(client.ok, answered.length, 'each accepted request was delivered')
  assert.ok(stoppedAfter >= 1000, 'the drain delay was honoured')
})

test('when SIGTERM starts the drain, then keep-alive connections stay open, and close with their answer once the listener has closed', async (t) => {
  const target = await createTestDatabase(t)
  const server = await startServer(t, target, { SHUTDOWN_DRAIN_MS: '1500', SHUTDOWN_GRACE_MS: '3000' })
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.after(() => agent.destroy())
  const get = () =>
    new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
      http
        .get(`${server.url}/api/v1/categories`, { agent }, (res) => {
          res.resume()
          res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }))
        })
        .on('error', reject)
    })
  assert.deepEqual(await get(), { status: 200, connection: 'keep-alive' })
  server.child.kill('SIGTERM')
  await sleep(300)
  // Still served during the drain on the same connection: a client made to reconnect now could meet a closed listener.
  assert.deepEqual(await get(), { status: 200, connection: 'keep-alive' })
  await sleep(1700)
  // The listener has closed; the kept connection gets its answer, told not to be reused.
  assert.deepEqual(await get(), { status: 200, connection: 'close' })
  assert.equal((await server.exited).code, 0)
})

test('when a second signal arrives while a slow request is in flight, then that request still completes', async (t) => {
  const target = await createTestDatabase(t)
  const server = await startServer(t, target, { SHUTDOWN_DRAIN_MS: '200' }, { testRoutes: true })
  const slow = fetch(`${server.url}/test/sleep?ms=1500`)
  await sleep(300)
  server.child.kill('SIGTERM')
  await sleep(100)
  server.child.kill('SIGINT')
  await sleep(100)
  server.child.kill('SIGTERM')
  const res = await slow
  assert.equal(res.status, 200)
  assert.deepEqual(await res.json(), { slept: 1500 })
  const exit = await server.exited
  assert.equal(exit.code, 0, server.output())
  assert.ok(logLines(server).some((l) => l.msg === 'already stopping; in-flight requests are still finishing'))
})

test('when an uncaught exception happens, then it is logged and the process ends with code 1 after closing', async (t) => {
  const target = await createTestDatabase(t)
  const server = await startServer(t, target, {}, { testRoutes: true })
  const res = await fetch(`${server.url}/test/crash`)
  assert.equal(res.status, 200)
  const exit = await server.exited
  assert.equal(exit.code, 1)
  const fatal = logLines(server).find((l) => l.level === 60)
  assert.ok(fatal, server.output())
  assert.equal(fatal.kind, 'uncaughtException')
  assert.match(JSON.stringify(fatal.err), /test failure: uncaught exception/)
  assert.ok(logLines(server).some((l) => l.msg === 'stopped'))
})

test('when the database connection of a running query is killed, then the request gets 503 and the process lives on', async (t) => {
  const target = await createTestDatabase(t)
  const admin = await connect(t, { ...target, database: 'postgres' })
  const server = await startServer(t, target, {}, { testRoutes: true })
  const pending = fetch(`${server.url}/test/db-sleep?ms=5000`)
  let killed = 0
  for (let i = 0; i < 50 && killed === 0; i++) {
    await sleep(100)
    const { rowCount } = await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'SELECT pg_sleep%'`,
      [target.database]
    )
    killed = rowCount ?? 0
  }
  assert.equal(killed, 1)
  const res = await pending
  assert.equal(res.status, 503)
  const body = await res.json()
  assert.equal(body.code, 'DATABASE_UNAVAILABLE')
  assert.equal((await fetch(`${server.url}/health/live`)).status, 200)
  assert.equal((await fetch(`${server.url}/api/v1/products`)).status, 200, 'the pool recovers with a new connection')
  assert.equal(server.child.exitCode, null)
})
