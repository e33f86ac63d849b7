import assert from 'node:assert/strict'
import { test } from 'node:test'
import { migrate } from '../../src/db/migrate.js'
import { build, connect, createTestDatabase } from '../helper.js'
import { logLines, runUntilExit, startServer } from '../server-process.js'
import { startProxy } from '../tcp-proxy.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function databaseEnv(target: { host: string; port: number; user: string; password: string; database: string }) {
  return {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    DB_HOST: target.host,
    DB_PORT: String(target.port),
    DB_USER: target.user,
    DB_PASSWORD: target.password,
    DB_NAME: target.database,
    MIGRATE_ON_STARTUP: 'false'
  }
}

/** The last line on stderr: the one a person reads. */
const failureLine = (output: string) =>
  output
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('catalog-api failed'))

test('when nothing listens at DB_HOST:DB_PORT, then start retries for DB_STARTUP_TIMEOUT_MS and exits 1 with one line naming the target and the cause', async () => {
  const result = await runUntilExit({
    ...databaseEnv({ host: '127.0.0.1', port: 1, user: 'catalog', password: 'never-shown-pw', database: 'shop' }),
    DB_STARTUP_TIMEOUT_MS: '2000'
  })
  assert.equal(result.code, 1, result.output)
  const [line, ...more] = failureLine(result.output)
  assert.equal(more.length, 0)
  assert.match(
    line ?? '',
    /^catalog-api failed to start: cannot connect to the database DB_HOST=127\.0\.0\.1 DB_PORT=1 DB_NAME=shop DB_USER=catalog \(TLS off\): connection refused .*; gave up after \d+ attempts in \d+\.\d s \(DB_STARTUP_TIMEOUT_MS=2000\)$/
  )
  const retries = result.output.split('\n').filter((l) => l.includes('"msg":"cannot connect to the database'))
  assert.ok(retries.length >= 2, `retried with backoff (${retries.length} retries logged)`)
  assert.doesNotMatch(result.output, /never-shown-pw/)
  assert.doesNotMatch(result.output, /\n\s+at /, 'no stack trace')
})

test('when the role or the database does not exist, then the line says so', async (t) => {
  const target = await createTestDatabase(t)
  const role = await runUntilExit({
    ...databaseEnv({ ...target, user: 'no_such_role_x' }),
    DB_STARTUP_TIMEOUT_MS: '0'
  })
  assert.equal(role.code, 1, role.output)
  assert.match(
    failureLine(role.output)[0] ?? '',
    /DB_USER=no_such_role_x \(TLS off\): (role "no_such_role_x" does not exist|password authentication failed for user "no_such_role_x"); gave up after 1 attempt in/
  )
  const database = await runUntilExit({
    ...databaseEnv({ ...target, database: 'no_such_database_x' }),
    DB_STARTUP_TIMEOUT_MS: '0'
  })
  assert.equal(database.code, 1, database.output)
  assert.match(
    failureLine(database.output)[0] ?? '',
    /DB_NAME=no_such_database_x .*: database "no_such_database_x" does not exist; gave up after 1 attempt/
  )
})

test('when the database becomes reachable during the retry window, then the server starts and is ready', async (t) => {
  const target = await createTestDatabase(t)
  const proxy = await startProxy({ host: target.host, port: target.port })
  t.after(() => proxy.close())
  proxy.setMode('reset')
  // Opens after the server has been turned away twice.
  const opening = (async () => {
    while (proxy.accepted < 2) await sleep(20)
    proxy.setMode('pass')
  })()
  const server = await startServer(t, { ...target, port: proxy.port }, { DB_STARTUP_TIMEOUT_MS: '30000' })
  await opening
  const lines = logLines(server)
  const retries = lines.filter((l) => String(l.msg).startsWith('cannot connect to the database'))
  assert.ok(retries.length >= 1, server.output())
  assert.match(String(retries[0]?.msg), new RegExp(`DB_PORT=${proxy.port} .*: connection reset`))
  assert.ok(lines.some((l) => String(l.msg).startsWith('database reachable')))
  assert.equal((await fetch(`${server.url}/health/ready`)).status, 200)
})

test('when the schema is behind the code (MIGRATE_ON_STARTUP=false on an empty database), then readiness is 503 naming the pending migrations, and once current costs no query', async (t) => {
  const target = await createTestDatabase(t, { empty: true })
  const app = await build(t, { MIGRATE_ON_STARTUP: 'false' }, target)
  const behind = await app.inject({ method: 'GET', url: '/health/ready' })
  assert.equal(behind.statusCode, 503)
  const body = behind.json()
  assert.equal(body.code, 'NOT_READY')
  assert.match(body.detail, /migrations \(pending migrations: 001_catalog\.sql, 002_audit\.sql/)
  assert.equal(body.checks.migrations.status, 'down')
  assert.equal(body.checks.database.status, 'up')

  const client = await connect(t, target)
  await migrate(client)
  const ready = await app.inject({ method: 'GET', url: '/health/ready' })
  assert.equal(ready.statusCode, 200, ready.body)
  assert.equal(ready.json().checks.migrations.status, 'up')
  // Once current, the check asks the database nothing: with the table gone it still says up.
  await client.query('ALTER TABLE schema_migrations RENAME TO schema_migrations_moved')
  const cached = await app.inject({ method: 'GET', url: '/health/ready' })
  assert.equal(cached.statusCode, 200)
  assert.equal(cached.json().checks.migrations.status, 'up')
})
