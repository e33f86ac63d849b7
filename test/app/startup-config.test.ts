import assert from 'node:assert/strict'
import net from 'node:net'
import { test } from 'node:test'
import { EXAMPLE_SECRETS, knownPrefixes, unknownVariables } from '../../src/config-checks.js'
import { ConfigError, ConfigSchema, loadConfig } from '../../src/config.js'
import { freePort } from '../../src/lib/free-port.js'
import { createTestDatabase } from '../helper.js'
import { logLines, runUntilExit, startServer } from '../server-process.js'

const KNOWN = Object.keys(ConfigSchema.properties)
const STRONG = 'Qm9vdHN0cmFwIGFkbWluIGtleSBmb3IgdGVzdHMgb25seQ'

test('when a variable with one of our prefixes is unknown, then it is reported with the closest known name', () => {
  const found = unknownVariables(
    {
      RATE_LIMIT_MAX_REQEUSTS: '5',
      RATE_LIMIT_ENABLE: 'false',
      DB_HOSTNAME: 'db',
      REDIS_KEY_PREFX: 'x:',
      RATE_LIMIT_ENABLED: 'true',
      NODE_OPTIONS: '--max-old-space-size=512',
      SENTRY_RELEASE: '1.0',
      HOME: '/root',
      PATH: '/usr/bin'
    },
    KNOWN
  )
  assert.deepEqual(found, [
    { name: 'DB_HOSTNAME', closest: 'DB_HOST' },
    { name: 'RATE_LIMIT_ENABLE', closest: 'RATE_LIMIT_ENABLED' },
    { name: 'RATE_LIMIT_MAX_REQEUSTS', closest: 'RATE_LIMIT_MAX_REQUESTS' },
    { name: 'REDIS_KEY_PREFX', closest: 'REDIS_KEY_PREFIX' }
  ])
  const prefixes = knownPrefixes(KNOWN)
  for (const prefix of ['DB_', 'RATE_', 'REDIS_', 'CACHE_', 'AUDIT_', 'SHUTDOWN_', 'PRESSURE_'])
    assert.ok(prefixes.includes(prefix), prefix)
  assert.ok(!prefixes.includes('NODE_') && !prefixes.includes('SENTRY_'))
})

test('when REDIS_URL is not a redis:// or rediss:// URL, then loading fails naming REDIS_URL', () => {
  for (const bad of ['http://127.0.0.1:6379', '127.0.0.1:6379', 'redis:/x', 'rediss://']) {
    assert.throws(
      () => loadConfig({ REDIS_URL: bad }),
      (err: unknown) =>
        err instanceof ConfigError && /REDIS_URL=".*" is invalid: expected redis:\/\/ or rediss:\/\//.test(err.message),
      bad
    )
  }
  assert.equal(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379/0' }).REDIS_URL, 'redis://127.0.0.1:6379/0')
  assert.equal(
    loadConfig({ REDIS_URL: 'rediss://u:p@cache.example:6380' }).REDIS_URL,
    'rediss://u:p@cache.example:6380'
  )
})

test('when NODE_ENV=production has a missing, short or example secret, then loading fails naming the variable', () => {
  const production = { NODE_ENV: 'production', CURSOR_SECRET: STRONG }
  const fails = (env: Record<string, string>, pattern: RegExp) =>
    assert.throws(
      () => loadConfig(env),
      (err: unknown) => err instanceof ConfigError && pattern.test(err.message)
    )
  fails({ NODE_ENV: 'production' }, /CURSOR_SECRET is not set/)
  fails({ ...production, CURSOR_SECRET: 'short-secret' }, /CURSOR_SECRET has 12 characters: .*at least 32/)
  fails({ ...production, BOOTSTRAP_ADMIN_API_KEY: 'ck_short' }, /BOOTSTRAP_ADMIN_API_KEY has 8 characters/)
  for (const example of EXAMPLE_SECRETS) {
    fails({ ...production, BOOTSTRAP_ADMIN_API_KEY: example }, /BOOTSTRAP_ADMIN_API_KEY is the published example value/)
    fails({ ...production, CURSOR_SECRET: example }, /CURSOR_SECRET is the published example value/)
  }
  assert.equal(loadConfig({ ...production, BOOTSTRAP_ADMIN_API_KEY: `ck_${STRONG}` }).NODE_ENV, 'production')
  assert.equal(loadConfig(production).BOOTSTRAP_ADMIN_API_KEY, undefined, 'no bootstrap key is fine')
  // Outside production the development defaults stay usable.
  assert.equal(loadConfig({ BOOTSTRAP_ADMIN_API_KEY: 'ck_short' }).NODE_ENV, 'development')
})

test('when the server starts in production without CURSOR_SECRET, then it exits 78 naming it', async () => {
  const result = await runUntilExit({ NODE_ENV: 'production', BOOTSTRAP_ADMIN_API_KEY: EXAMPLE_SECRETS[1] as string })
  assert.equal(result.code, 78, result.output)
  assert.match(result.output, /CURSOR_SECRET is not set/)
  assert.match(result.output, /BOOTSTRAP_ADMIN_API_KEY is the published example value/)
})

test('when the server starts, then misspelled variables are warned about and one line says what it connected to', async (t) => {
  const target = await createTestDatabase(t)
  const deadRedis = await freePort()
  const server = await startServer(t, target, {
    RATE_LIMIT_ENABLE: 'false',
    RATE_LIMIT_MAX_REQEUSTS: '5',
    REDIS_URL: `redis://user:redis-secret@127.0.0.1:${deadRedis}`,
    REDIS_CONNECT_TIMEOUT_MS: '100',
    DB_READ_REPLICA_HOST: target.host
  })
  const lines = logLines(server)
  const warnings = lines.filter((l) => String(l.msg).startsWith('unknown variable'))
  assert.deepEqual(
    warnings.map((l) => l.msg),
    [
      'unknown variable RATE_LIMIT_ENABLE is ignored; did you mean RATE_LIMIT_ENABLED?',
      'unknown variable RATE_LIMIT_MAX_REQEUSTS is ignored; did you mean RATE_LIMIT_MAX_REQUESTS?'
    ]
  )
  const started = lines.filter((l) => l.msg === 'catalog-api started')
  assert.equal(started.length, 1, server.output())
  const line = started[0] as {
    version: string
    nodeEnv: string
    database: unknown
    replicas: string[]
    redis: { mode: string; endpoint: string; reachable: boolean; error: string }
    cache: string
    rateLimit: string
  }
  assert.equal(line.version, '0.1.0')
  assert.equal(line.nodeEnv, 'test')
  assert.deepEqual(line.database, {
    host: target.host,
    port: target.port,
    name: target.database,
    user: target.user,
    tls: false
  })
  assert.deepEqual(line.replicas, [`${target.host}:5432`])
  assert.equal(line.redis.mode, 'single')
  assert.equal(line.redis.endpoint, `redis://127.0.0.1:${deadRedis}`)
  assert.equal(line.redis.reachable, false)
  assert.match(line.redis.error, /ECONNREFUSED/)
  assert.equal(line.cache, 'redis, with an in-process copy')
  assert.equal(line.rateLimit, 'off')
  assert.doesNotMatch(server.output(), /redis-secret/)
  if (target.password) assert.ok(!server.output().includes(target.password), 'the database password is never logged')
})

async function occupied(t: Parameters<typeof createTestDatabase>[0]): Promise<number> {
  const blocker = net.createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => blocker.close(() => resolve())))
  return (blocker.address() as net.AddressInfo).port
}

test('when PORT or METRICS_PORT is taken, then the process exits 1 with one line naming the port and the variable', async (t) => {
  const target = await createTestDatabase(t)
  const taken = await occupied(t)
  const database = {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    DB_HOST: target.host,
    DB_PORT: String(target.port),
    DB_USER: target.user,
    DB_PASSWORD: target.password,
    DB_NAME: target.database,
    MIGRATE_ON_STARTUP: 'false'
  }
  const api = await runUntilExit({ ...database, PORT: String(taken) })
  assert.equal(api.code, 1, api.output)
  assert.match(
    api.output,
    new RegExp(`catalog-api failed to start: port ${taken} on 127.0.0.1 \\(PORT=${taken}\\) is already in use`)
  )
  assert.doesNotMatch(api.output, /\n\s+at /, 'no stack trace')
  const metrics = await runUntilExit({ ...database, PORT: String(await freePort()), METRICS_PORT: String(taken) })
  assert.equal(metrics.code, 1, metrics.output)
  assert.match(metrics.output, new RegExp(`port ${taken} on 127.0.0.1 \\(METRICS_PORT=${taken}\\) is already in use`))
})
