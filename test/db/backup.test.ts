import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import pg from 'pg'
import type { ConnectionTarget } from '../../src/db/pool.js'
import { projectRoot } from '../../src/lib/project-root.js'
import { apiKey, bearer, build, connect, defer, seed, serverTarget } from '../helper.js'

// The backup drill of docs/operations.md: npm run backup, npm run restore into a new database, audit:verify there.
const missing = ['pg_dump', 'pg_restore'].filter((tool) => spawnSync(tool, ['--version']).status !== 0)
const skip =
  missing.length && process.env.REQUIRE_SERVICES !== '1'
    ? `${missing.join(' and ')} not on PATH (install postgresql-client)`
    : false

const dbEnv = (target: ConnectionTarget) => ({
  DB_HOST: target.host,
  DB_PORT: String(target.port),
  DB_USER: target.user,
  DB_PASSWORD: target.password,
  DB_NAME: target.database
})

/** `npm run -s <script> -- args` in the repository, as an operator runs it; resolves with exit code and output. */
function npmRun(script: string, args: string[], env: Record<string, string>) {
  return new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn('npm', ['run', '-s', script, '--', ...args], {
      cwd: projectRoot(),
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        DOTENV_CONFIG_PATH: '/nonexistent',
        LOG_LEVEL: 'warn',
        ...env
      },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('exit', (code) => resolve({ code, out }))
  })
}

async function rowCounts(client: pg.Client): Promise<Record<string, number>> {
  const { rows: tables } = await client.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables
      WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`
  )
  const counts: Record<string, number> = {}
  for (const { name } of tables) {
    const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(name)}`)
    counts[name] = rows[0]?.n ?? -1
  }
  return counts
}

test(
  'when a database is backed up and restored into a new one, then audit:verify passes there and every table has the same row count',
  { skip, timeout: 300_000 },
  async (t) => {
    assert.deepEqual(missing, [], 'pg_dump and pg_restore are installed')
    const app = await build(t)
    await seed(app, 300)
    const key = await apiKey(app, 'editor')
    for (let i = 0; i < 5; i++) {
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/products',
        headers: bearer(key),
        payload: { sku: `BK-${i}`, name: `Backup ${i}`, priceCents: 100 + i, currency: 'EUR', stock: i }
      })
      assert.equal(res.statusCode, 201, res.body)
    }
    await app.audit.seal() // entries are chained shortly after their commit; the restored copy has no instance to seal
    const dir = await mkdtemp(join(tmpdir(), 'catalog-backup-'))
    defer(t, () => rm(dir, { recursive: true, force: true }))
    const file = join(dir, 'catalog.dump')

    const backup = await npmRun('backup', ['--out', file], dbEnv(app.target))
    assert.equal(backup.code, 0, backup.out)
    assert.match(backup.out, /backup written: .*catalog\.dump/)

    const restored = `${app.target.database}_restored`
    defer(t, async () => {
      const admin = new pg.Client(serverTarget())
      await admin.connect()
      await admin.query(`DROP DATABASE IF EXISTS ${restored} WITH (FORCE)`)
      await admin.end()
    })
    const restore = await npmRun('restore', [file, '--database', restored], dbEnv(app.target))
    assert.equal(restore.code, 0, restore.out)
    assert.match(restore.out, new RegExp(`into database ${restored}`))

    const source = await connect(t, app.target)
    const copy = await connect(t, serverTarget(restored))
    const expected = await rowCounts(source)
    assert.ok((expected.products ?? 0) >= 305 && (expected.audit_log ?? 0) >= 6, JSON.stringify(expected))
    assert.deepEqual(await rowCounts(copy), expected)

    const verify = await npmRun('audit:verify', [], { ...dbEnv(app.target), DB_NAME: restored })
    assert.equal(verify.code, 0, verify.out)
    assert.match(verify.out, new RegExp(`audit chain intact: ${expected.audit_log} entries`))

    // The restored database takes writes: its sequences came along, so new ids do not collide.
    const next = await copy.query<{ id: number }>(
      `INSERT INTO categories (name, slug) VALUES ('After restore', 'after-restore') RETURNING id`
    )
    const { rows } = await source.query<{ max: number }>('SELECT max(id)::int AS max FROM categories')
    assert.ok((next.rows[0]?.id ?? 0) > (rows[0]?.max ?? Infinity))

    const again = await npmRun('restore', [file, '--database', restored], dbEnv(app.target))
    assert.equal(again.code, 2, again.out)
    assert.match(again.out, /already exists: restore into a new one/)
  }
)

test(
  'when restore is given a file that is not a backup, then it fails and leaves no database behind',
  { skip, timeout: 120_000 },
  async (t) => {
    const app = await build(t)
    const dir = await mkdtemp(join(tmpdir(), 'catalog-backup-'))
    defer(t, () => rm(dir, { recursive: true, force: true }))
    const file = join(dir, 'not-a-backup.dump')
    await writeFile(file, 'this is not a pg_dump archive')
    const name = `${app.target.database}_bad`
    const result = await npmRun('restore', [file, '--database', name], dbEnv(app.target))
    assert.notEqual(result.code, 0, result.out)
    assert.match(result.out, /pg_restore failed/)
    const admin = await connect(t, serverTarget())
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])
    assert.equal(rowCount, 0, 'the half-made database was dropped')
  }
)
