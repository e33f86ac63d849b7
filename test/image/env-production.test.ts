import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { ConfigSchema, loadConfig } from '../../src/config.js'
import { projectRoot } from '../../src/lib/project-root.js'
import { PRODUCTION_SETTINGS } from '../../scripts/production-env.js'

const template = () => readFile(join(projectRoot(), '.env.production'), 'utf8')

/** The uncommented KEY=value lines of an env file. */
const assignments = (text: string) =>
  Object.fromEntries(
    text
      .split('\n')
      .filter((line) => /^[A-Z][A-Z0-9_]*=/.test(line))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)])
  )

test('when the configuration schema changes, then .env.production is regenerated and lists every variable', async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', 'scripts/config-docs.ts', '--production'],
    { cwd: projectRoot() }
  )
  const text = await template()
  assert.equal(text, stdout, '.env.production is up to date (npm run -s config:docs -- --production > .env.production)')
  for (const key of Object.keys(ConfigSchema.properties))
    assert.match(text, new RegExp(`^(# )?${key}=`, 'm'), `.env.production lists ${key}`)
  for (const key of Object.keys(PRODUCTION_SETTINGS))
    assert.ok(key in ConfigSchema.properties, `${key} of the production settings is a configuration variable`)
})

test('when .env.production is read, then every secret is left empty and no line carries a secret value', async () => {
  const values = assignments(await template())
  const secrets = Object.entries(PRODUCTION_SETTINGS).filter(([, s]) => s.secret)
  assert.ok(secrets.length >= 5)
  for (const [key] of secrets) assert.equal(values[key], '', `${key} is present and empty`)
  for (const [key, value] of Object.entries(values)) {
    if (!value) continue
    assert.doesNotMatch(
      value,
      /^(ck_|rediss?:\/\/|https?:\/\/)|[A-Za-z0-9+/_-]{24,}/,
      `${key}=${value} looks like a secret`
    )
  }
})

test('when the required and secret blanks of .env.production are filled in, then it is a valid production configuration', async () => {
  const values = assignments(await template())
  const filled: Record<string, string> = {}
  for (const [key, value] of Object.entries(values)) {
    const setting = PRODUCTION_SETTINGS[key]
    filled[key] = value || (setting?.secret || setting?.required ? placeholder(key) : value)
  }
  const config = loadConfig(filled)
  assert.equal(config.NODE_ENV, 'production')
  assert.equal(config.DB_SSL, true)
  assert.equal(config.MIGRATE_ON_STARTUP, false)
  assert.equal(config.SEED_ON_STARTUP, false)
  assert.ok(config.DB_HOST && config.CURSOR_SECRET)
})

function placeholder(key: string): string {
  if (key === 'REDIS_URL') return 'rediss://:token@cache.example.internal:6379'
  if (key === 'SENTRY_DSN') return 'https://key@sentry.example.com/1'
  if (key === 'DB_HOST') return 'db.example.internal'
  // Long enough for the production checks on secrets (at least 32 characters).
  return `placeholder-${key.toLowerCase()}-0123456789abcdef0123456789abcdef`
}
