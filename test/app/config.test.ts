import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { ConfigError, ConfigSchema, loadConfig } from '../../src/config.js'
import { projectRoot } from '../../src/lib/project-root.js'

test('when nothing is set, then every variable has its documented default', () => {
  const config = loadConfig({})
  assert.equal(config.PORT, 5000)
  assert.equal(config.LOG_LEVEL, 'info')
  assert.equal(config.DB_HOST, undefined)
  assert.equal(config.CACHE_TTL_SECONDS, 300)
  assert.equal(config.RATE_LIMIT_WINDOW_MS, 900_000)
  assert.equal(config.RATE_LIMIT_MAX_REQUESTS, 100)
  assert.ok(Object.isFrozen(config))
})

test("when LOG_LEVEL uses the seed's upper-case spelling, then it is accepted as pino's level", () => {
  assert.equal(loadConfig({ LOG_LEVEL: 'WARN' }).LOG_LEVEL, 'warn')
  assert.equal(loadConfig({ LOG_LEVEL: 'INFO' }).LOG_LEVEL, 'info')
})

test('when values are bad, then loading fails with one message per variable naming what it accepts', () => {
  assert.throws(
    () => loadConfig({ PORT: 'abc', LOG_LEVEL: 'LOUD', DB_POOL_MAX: '0', SEED_ON_STARTUP: 'maybe' }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError)
      const text = err.message
      assert.match(text, /PORT="abc" is invalid: expected .*integer/)
      assert.match(text, /LOG_LEVEL="LOUD" is invalid: expected .*fatal, error, warn, info/)
      assert.match(text, /DB_POOL_MAX="0" is invalid/)
      assert.match(text, /SEED_ON_STARTUP="maybe" is invalid: expected .*true or false/)
      assert.equal(err.problems.length, 4)
      return true
    }
  )
})

test('when DB_POOL_MIN exceeds DB_POOL_MAX, then loading fails naming both', () => {
  assert.throws(
    () => loadConfig({ DB_POOL_MIN: '30', DB_POOL_MAX: '10' }),
    /DB_POOL_MIN=30 is invalid: expected at most DB_POOL_MAX/
  )
})

test('when the server starts with PORT=abc, then it exits at once with a message naming PORT', async () => {
  const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: projectRoot(),
      env: { PATH: process.env.PATH, PORT: 'abc', LOG_LEVEL: 'LOUD', DOTENV_CONFIG_PATH: '/nonexistent' },
      stdio: ['ignore', 'ignore', 'pipe']
    })
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    child.on('exit', (code) => resolve({ code, stderr }))
  })
  assert.equal(result.code, 78)
  assert.match(result.stderr, /PORT="abc" is invalid/)
  assert.match(result.stderr, /LOG_LEVEL="LOUD" is invalid/)
})

test('when the configuration schema changes, then .env.example and docs/configuration.md list every variable', async () => {
  const example = await readFile(join(projectRoot(), '.env.example'), 'utf8')
  const readme = await readFile(join(projectRoot(), 'docs', 'configuration.md'), 'utf8')
  for (const key of Object.keys(ConfigSchema.properties)) {
    assert.match(
      example,
      new RegExp(`^# ${key}=`, 'm'),
      `.env.example lists ${key} (npm run -s config:docs > .env.example)`
    )
    assert.match(
      readme,
      new RegExp(`^\\| \`${key}\` \\|`, 'm'),
      `docs/configuration.md lists ${key} (npm run -s config:docs -- --markdown)`
    )
  }
})
