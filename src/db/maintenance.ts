import type { Queryable } from './pool.js'

/**
 * Runs `fn` while this session holds the advisory lock `key` (one run at a time across the fleet); undefined,
 * without running it, when another session holds the lock.
 */
export async function whileLocked<T>(client: Queryable, key: number, fn: () => Promise<T>): Promise<T | undefined> {
  const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [key])
  if (!rows[0]?.ok) return undefined
  try {
    return await fn()
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [key])
  }
}

/** Calls `step` (which removes at most `batch` rows) until a call removes fewer; the number removed in all. */
export async function inBatches(batch: number, step: () => Promise<number>): Promise<number> {
  let total = 0
  for (let n = batch; n === batch; total += n) n = await step()
  return total
}
