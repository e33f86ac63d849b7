import { createHash } from 'node:crypto'

/** The link before the first entry of a chain. */
export const GENESIS_HASH = Buffer.alloc(32)

export type AuditAction = 'create' | 'update' | 'delete'
export type EntityType = 'product' | 'category' | 'api_key' | 'variant' | 'media'

export interface Actor {
  type: 'api_key' | 'system'
  id: number | null
  name: string
  role: string | null
}

/** Everything an entry says, i.e. everything its hash covers (besides the previous hash). */
export interface AuditContent {
  id: number
  occurredAt: string
  action: AuditAction
  entityType: EntityType
  entityId: number
  actor: Actor
  ip: string | null
  userAgent: string | null
  requestId: string | null
  oldValues: Record<string, unknown> | null
  newValues: Record<string, unknown> | null
  changedFields: string[]
}

/**
 * JSON with object keys sorted at every level and no whitespace (the shape of RFC 8785 for the values we
 * store): jsonb gives keys back in its own order, so the hash must not depend on key order.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
}

/** SHA-256 over the previous entry's hash and this entry's canonical content. */
export function entryHash(prevHash: Buffer, content: AuditContent): Buffer {
  return createHash('sha256').update(prevHash).update(canonicalJson(content), 'utf8').digest()
}
