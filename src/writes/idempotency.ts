import { escapeLiteral } from '../db/inline.js'
import type { Queryable } from '../db/pool.js'
import { AppError } from '../errors.js'

/** An Idempotency-Key as one request presented it. */
export interface IdempotencyClaim {
  apiKeyId: number
  key: string
  /** SHA-256 of method, path and canonical body: "the same request". */
  fingerprint: Buffer
  /** The status the route answers on success; stored with the body. */
  status: number
  ttlHours: number
  /** Set when the stored response was replayed instead of running the request. */
  replayed: boolean
}

export interface StoredResponse {
  status: number
  body: { success: true; data: unknown }
}

/**
 * Takes the key for this transaction (draft-ietf-httpapi-idempotency-key-header §2.6): a transaction-scoped
 * advisory lock that is never waited for, so a retry while the first request still runs answers 409 at once.
 * The lock holder then sees any committed response for the key: the same request replays it, another one is 422.
 */
export async function claimKey(tx: Queryable, claim: IdempotencyClaim): Promise<StoredResponse | undefined> {
  const { rows: locked } = await tx.query<{ ok: boolean }>(
    'SELECT pg_try_advisory_xact_lock(hashtextextended($1, 7261003)) AS ok',
    [`${claim.apiKeyId}:${claim.key}`]
  )
  if (!locked[0]?.ok) {
    throw new AppError(
      'IDEMPOTENCY_KEY_IN_USE',
      'A request with this Idempotency-Key is still being processed; retry later',
      undefined,
      {
        'retry-after': '1'
      }
    )
  }
  const { rows } = await tx.query<{
    fingerprint: Buffer
    status: number
    body: StoredResponse['body']
    expired: boolean
  }>(
    `SELECT fingerprint, status, body, created_at < now() - make_interval(hours => $3) AS expired
       FROM idempotency_keys WHERE api_key_id = $1 AND key = $2`,
    [claim.apiKeyId, claim.key, claim.ttlHours]
  )
  const stored = rows[0]
  if (!stored) return undefined
  if (stored.expired) {
    await tx.query('DELETE FROM idempotency_keys WHERE api_key_id = $1 AND key = $2', [claim.apiKeyId, claim.key])
    return undefined
  }
  if (!stored.fingerprint.equals(claim.fingerprint)) {
    throw new AppError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used for a different request')
  }
  return { status: stored.status, body: stored.body }
}

export async function saveResponse(
  tx: Queryable,
  claim: IdempotencyClaim,
  body: StoredResponse['body']
): Promise<void> {
  await tx.query(
    'INSERT INTO idempotency_keys (api_key_id, key, fingerprint, status, body) VALUES ($1, $2, $3, $4, $5)',
    [claim.apiKeyId, claim.key, claim.fingerprint, claim.status, JSON.stringify(body)]
  )
}

const lockName = (claim: IdempotencyClaim) => `${claim.apiKeyId}:${claim.key}`

/**
 * The claims of a batch of requests in one statement (see claimKey): true when every key is now locked by this
 * transaction and none has a stored response, so every request runs. False otherwise (a key in use, a response to
 * replay or an expired one to remove, the same key twice in the batch): each request must then make its own claim.
 */
export async function claimFreshKeys(tx: Queryable, claims: IdempotencyClaim[]): Promise<boolean> {
  const names = claims.map(lockName)
  if (new Set(names).size !== names.length) return false
  const { rows } = await tx.query<{ fresh: boolean }>(
    `SELECT bool_and(pg_try_advisory_xact_lock(hashtextextended(k.name, 7261003)) AND i.key IS NULL) AS fresh
       FROM unnest($1::text[], $2::integer[], $3::text[]) AS k(name, api_key_id, key)
       LEFT JOIN idempotency_keys i ON i.api_key_id = k.api_key_id AND i.key = k.key`,
    [names, claims.map((c) => c.apiKeyId), claims.map((c) => c.key)]
  )
  return rows[0]?.fresh === true
}

/** saveResponse for many claims as SQL without parameters, for beforeCommit(). */
export function saveResponsesSql(saved: { claim: IdempotencyClaim; body: StoredResponse['body'] }[]): string {
  const rows = saved.map(({ claim, body }) => {
    if (!Number.isSafeInteger(claim.apiKeyId) || !Number.isSafeInteger(claim.status)) {
      throw new TypeError(`not an API key id and status: ${claim.apiKeyId}, ${claim.status}`)
    }
    const fingerprint = `'\\x${claim.fingerprint.toString('hex')}'::bytea`
    return `(${claim.apiKeyId}, ${escapeLiteral(claim.key)}, ${fingerprint}, ${claim.status}, ${escapeLiteral(JSON.stringify(body))}::jsonb)`
  })
  return `INSERT INTO idempotency_keys (api_key_id, key, fingerprint, status, body) VALUES ${rows.join(', ')}`
}

/** Removes keys older than `ttlHours`, in small batches. */
export async function pruneKeys(q: Queryable, ttlHours: number, batch: number): Promise<number> {
  const { rowCount } = await q.query(
    `DELETE FROM idempotency_keys WHERE ctid IN (
       SELECT ctid FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1) LIMIT $2)`,
    [ttlHours, batch]
  )
  return rowCount ?? 0
}
