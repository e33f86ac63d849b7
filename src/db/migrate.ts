import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type pg from 'pg'
import { projectRoot } from '../lib/project-root.js'

export interface Migration {
  version: number
  name: string
  sql: string
  checksum: string
}

// Any constant shared by every instance; keeps concurrent starts from applying a migration twice.
const MIGRATION_LOCK_KEY = 7_261_001

export class MigrationError extends Error {
  override name = 'MigrationError'
}

export async function loadMigrations(dir = join(projectRoot(), 'migrations')): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d+_[\w-]+\.sql$/.test(f)).sort()
  const migrations: Migration[] = []
  for (const file of files) {
    const sql = await readFile(join(dir, file), 'utf8')
    const version = Number.parseInt(file, 10)
    if (migrations.some((m) => m.version === version))
      throw new MigrationError(`two migrations share version ${version}`)
    migrations.push({ version, name: file, sql, checksum: createHash('sha256').update(sql).digest('hex') })
  }
  return migrations
}

/**
 * Applies pending migrations in order, each in its own transaction, under a session advisory lock.
 * Fails if an applied migration's file changed since it ran.
 */
export async function migrate(client: pg.ClientBase, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? (await loadMigrations())
  const applied: string[] = []
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY])
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      checksum   text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`)
    const { rows } = await client.query<{ version: number; name: string; checksum: string }>(
      'SELECT version, name, checksum FROM schema_migrations ORDER BY version'
    )
    const done = new Map(rows.map((r) => [r.version, r]))
    for (const m of all) {
      const row = done.get(m.version)
      if (row) {
        if (row.checksum !== m.checksum) {
          throw new MigrationError(
            `migration ${m.name} was edited after it was applied (checksum ${row.checksum.slice(0, 12)}… in the database, ` +
              `${m.checksum.slice(0, 12)}… on disk); add a new migration instead of changing an applied one`
          )
        }
        continue
      }
      try {
        await client.query('BEGIN')
        await client.query(m.sql)
        await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
          m.version,
          m.name,
          m.checksum
        ])
        await client.query('COMMIT')
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {})
        throw new MigrationError(`migration ${m.name} failed: ${(err as Error).message}`)
      }
      applied.push(m.name)
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {})
  }
  return applied
}

/** Names of the migrations in `migrations` that `q`'s database has not applied (all of them on an empty one). */
export async function pendingMigrations(
  q: Pick<pg.ClientBase, 'query'>,
  migrations: readonly Migration[]
): Promise<string[]> {
  const table = await q.query<{ present: boolean }>(`SELECT to_regclass('schema_migrations') IS NOT NULL AS present`)
  const { rows } = table.rows[0]?.present
    ? await q.query<{ version: number }>('SELECT version FROM schema_migrations')
    : { rows: [] }
  const applied = new Set(rows.map((r) => r.version))
  return migrations.filter((m) => !applied.has(m.version)).map((m) => m.name)
}
