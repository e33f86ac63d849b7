import { createHash, randomBytes } from 'node:crypto'
import type { Queryable } from './pool.js'

// The api_keys queries that admission (identity) and start-up need; the API-key feature has the rest.

export const hashKey = (key: string) => createHash('sha256').update(key, 'utf8').digest()

/** A new random key; only its SHA-256 is ever stored. */
export function generateKey(): string {
  return `ck_${randomBytes(32).toString('base64url')}`
}

/** What a key may do: editors write the catalog, admins also manage keys and read the audit log. */
/** admin: everything; editor: catalog writes; storefront: catalog reads only (drafts stay hidden); events: the change feed. */
export const ROLES = ['admin', 'editor', 'storefront', 'events'] as const
export type Role = (typeof ROLES)[number]

export interface ActiveKeyRow {
  id: number
  name: string
  role: Role
}

export async function findActiveKey(q: Queryable, key: string): Promise<ActiveKeyRow | undefined> {
  const { rows } = await q.query<ActiveKeyRow>(
    `SELECT id, name, role FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL`,
    [hashKey(key)]
  )
  return rows[0]
}

export async function touchApiKey(q: Queryable, id: number): Promise<void> {
  await q.query(
    `UPDATE api_keys SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
    [id]
  )
}
