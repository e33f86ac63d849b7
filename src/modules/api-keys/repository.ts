import { Conditions, type KeysetOrder, keysetQuery } from '../../db/keyset.js'
import type { Queryable } from '../../db/pool.js'
import type { CursorKey } from '../../lib/cursor.js'
import type { ApiKey, Role } from './schemas.js'
import { hashKey } from '../../db/api-keys.js'

export { findActiveKey, generateKey, hashKey, touchApiKey } from '../../db/api-keys.js'

export interface ApiKeyRow {
  id: number
  name: string
  role: Role
  key_prefix: string
  created_at: Date
  last_used_at: Date | null
  revoked_at: Date | null
}

const COLUMNS = 'id, name, role, key_prefix, created_at, last_used_at, revoked_at'

export const rowToApiKey = (row: ApiKeyRow): ApiKey => ({
  id: row.id,
  name: row.name,
  role: row.role,
  prefix: row.key_prefix,
  createdAt: row.created_at.toISOString(),
  lastUsedAt: row.last_used_at?.toISOString() ?? null,
  revokedAt: row.revoked_at?.toISOString() ?? null
})

export async function insertApiKey(q: Queryable, input: { name: string; role: Role; key: string }): Promise<ApiKeyRow> {
  const { rows } = await q.query<ApiKeyRow>(
    `INSERT INTO api_keys (name, role, key_hash, key_prefix) VALUES ($1, $2, $3, $4)
     ON CONFLICT (key_hash) DO NOTHING RETURNING ${COLUMNS}`,
    [input.name, input.role, hashKey(input.key), input.key.slice(0, 10)]
  )
  return rows[0] as ApiKeyRow
}

/**
 * `forUpdate` takes FOR NO KEY UPDATE, the lock the revoking UPDATE takes anyway: a plain FOR UPDATE would also block
 * the KEY SHARE that an idempotency record of this key takes (its foreign key) while that writer holds the audit
 * chain head this revocation waits for, a deadlock.
 */
export async function findApiKeyById(
  q: Queryable,
  id: number,
  opts: { forUpdate?: boolean } = {}
): Promise<ApiKeyRow | undefined> {
  const { rows } = await q.query<ApiKeyRow>(
    `SELECT ${COLUMNS} FROM api_keys WHERE id = $1${opts.forUpdate ? ' FOR NO KEY UPDATE' : ''}`,
    [id]
  )
  return rows[0]
}

export async function keyExists(q: Queryable, key: string): Promise<boolean> {
  const { rowCount } = await q.query('SELECT 1 FROM api_keys WHERE key_hash = $1', [hashKey(key)])
  return (rowCount ?? 0) > 0
}

/** Oldest first, by id (the primary key's index); the cursor repeats the id as its sort value. */
export const API_KEY_ORDER: KeysetOrder<ApiKeyRow> = {
  column: 'id',
  cast: 'integer',
  desc: false,
  key: (row) => [row.id, row.id]
}

export async function listApiKeys(q: Queryable, after: CursorKey | undefined, limit: number): Promise<ApiKeyRow[]> {
  const { text, values } = keysetQuery(`SELECT ${COLUMNS} FROM api_keys`, new Conditions(), API_KEY_ORDER, after, limit)
  const { rows } = await q.query<ApiKeyRow>(text, values)
  return rows
}

export async function countActiveKeys(q: Queryable): Promise<number> {
  const { rows } = await q.query<{ n: number }>('SELECT count(*)::int AS n FROM api_keys WHERE revoked_at IS NULL')
  return rows[0]?.n ?? 0
}

export async function revokeApiKey(q: Queryable, id: number): Promise<ApiKeyRow | undefined> {
  const { rows } = await q.query<ApiKeyRow>(
    `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING ${COLUMNS}`,
    [id]
  )
  return rows[0]
}
