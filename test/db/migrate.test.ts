import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { loadMigrations, migrate } from '../../src/db/migrate.js'
import { projectRoot } from '../../src/lib/project-root.js'
import { connect, createTestDatabase, defer } from '../helper.js'

function runMigrateCli(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/migrate.ts'], {
      cwd: projectRoot(),
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('exit', (code) => resolve({ code, out }))
  })
}

test('when three processes run npm run migrate at once on an empty database, then all succeed and each migration is recorded once', async (t) => {
  const target = await createTestDatabase(t, { empty: true })
  const env = {
    DB_HOST: target.host,
    DB_PORT: String(target.port),
    DB_USER: target.user,
    DB_PASSWORD: target.password,
    DB_NAME: target.database,
    LOG_LEVEL: 'warn'
  }
  const results = await Promise.all([runMigrateCli(env), runMigrateCli(env), runMigrateCli(env)])
  for (const r of results) assert.equal(r.code, 0, r.out)
  // Exactly one of them applied the migrations; the others found the database up to date.
  assert.equal(results.filter((r) => r.out.includes('applied:')).length, 1, results.map((r) => r.out).join('\n'))

  const files = (await readdir(join(projectRoot(), 'migrations'))).filter((f) => f.endsWith('.sql'))
  const client = await connect(t, target)
  const { rows } = await client.query<{ version: number; n: number }>(
    'SELECT version, count(*)::int AS n FROM schema_migrations GROUP BY version ORDER BY version'
  )
  assert.equal(rows.length, files.length)
  assert.ok(rows.every((r) => r.n === 1))
})

test('when an applied migration file is edited, then migrating stops with an error naming the file', async (t) => {
  const target = await createTestDatabase(t, { empty: true })
  const dir = await mkdtemp(join(tmpdir(), 'migrations-'))
  defer(t, () => rm(dir, { recursive: true, force: true }))
  await cp(join(projectRoot(), 'migrations'), dir, { recursive: true })
  const client = await connect(t, target)

  await migrate(client, await loadMigrations(dir))
  const [first] = await loadMigrations(dir)
  assert.ok(first)
  await writeFile(join(dir, first.name), `${first.sql}\n-- an edit after the fact\n`)
  await assert.rejects(migrate(client, await loadMigrations(dir)), (err: Error) => {
    assert.match(err.message, new RegExp(`${first.name} was edited after it was applied`))
    return true
  })
})

test('when a migration fails, then it is rolled back whole and not recorded', async (t) => {
  const target = await createTestDatabase(t, { empty: true })
  const dir = await mkdtemp(join(tmpdir(), 'migrations-'))
  defer(t, () => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, '001_ok.sql'), 'CREATE TABLE a (id int);')
  await writeFile(join(dir, '002_broken.sql'), 'CREATE TABLE b (id int);\nSELECT no_such_function();')
  const client = await connect(t, target)

  await assert.rejects(migrate(client, await loadMigrations(dir)), /002_broken\.sql failed/)
  const { rows } = await client.query(`SELECT to_regclass('a') AS a, to_regclass('b') AS b`)
  assert.equal(rows[0].a, 'a')
  assert.equal(rows[0].b, null)
  const recorded = await client.query('SELECT name FROM schema_migrations')
  assert.deepEqual(
    recorded.rows.map((r) => r.name),
    ['001_ok.sql']
  )
})
