import type pg from 'pg'
import { toPage } from '../../db/keyset.js'
import type { Queryable } from '../../db/pool.js'
import type { CursorCodec, CursorKey } from '../../lib/cursor.js'
import { AppError } from '../../errors.js'
import {
  created,
  deleted,
  mutate,
  systemContext,
  type Transactor,
  transactorOf,
  type WriteContext
} from '../../writes/mutation.js'
import * as repo from './repository.js'
import type { ApiKey, CreateApiKey, ListApiKeysQuery } from './schemas.js'

/** The app's Database, a pool, or one client (the CLI, start-up): every key change is audited in its transaction. */
export type KeyStore = Transactor | pg.Pool | pg.ClientBase

const transactor = (store: KeyStore): Transactor => ('transaction' in store ? store : transactorOf(store))

// Calls from outside HTTP (tests, the CLI, start-up) that name no actor are recorded as the system.
const SYSTEM = systemContext('system')

export async function createApiKey(
  store: KeyStore,
  input: CreateApiKey,
  ctx: WriteContext = SYSTEM
): Promise<ApiKey & { key: string }> {
  const key = repo.generateKey()
  const apiKey = await mutate(transactor(store), ctx, async (tx) =>
    created('api_key', repo.rowToApiKey(await repo.insertApiKey(tx, { ...input, key })))
  )
  return { ...apiKey, key }
}

class AlreadyRegistered extends Error {}

/** Registers a key given from outside (BOOTSTRAP_ADMIN_API_KEY); a no-op when it is already known. */
export async function registerApiKey(
  store: KeyStore,
  input: CreateApiKey & { key: string },
  ctx: WriteContext = SYSTEM
): Promise<boolean> {
  try {
    await mutate(transactor(store), ctx, async (tx) => {
      const row = (await repo.keyExists(tx, input.key)) ? undefined : await repo.insertApiKey(tx, input)
      if (!row) throw new AlreadyRegistered()
      return created('api_key', repo.rowToApiKey(row))
    })
    return true
  } catch (err) {
    if (err instanceof AlreadyRegistered) return false
    throw err
  }
}

const CURSOR_SCOPE = 'api-keys:id'

export async function listApiKeys(
  q: Queryable,
  cursors: CursorCodec,
  query: ListApiKeysQuery
): Promise<{ items: ApiKey[]; nextCursor: string | null }> {
  const after = query.cursor === undefined ? undefined : cursors.decode(CURSOR_SCOPE, query.cursor)
  const rows = await repo.listApiKeys(q, after, query.limit)
  return toPage(rows, query.limit, repo.rowToApiKey, (row) => cursors.encode(CURSOR_SCOPE, repo.API_KEY_ORDER.key(row)))
}

/** Every key, oldest first, read page by page (the CLI's list). */
export async function listAllApiKeys(q: Queryable, pageSize = 500): Promise<ApiKey[]> {
  const all: ApiKey[] = []
  let after: CursorKey | undefined
  for (;;) {
    const rows = await repo.listApiKeys(q, after, pageSize)
    all.push(...rows.slice(0, pageSize).map(repo.rowToApiKey))
    const last = rows[pageSize - 1]
    if (rows.length <= pageSize || !last) return all
    after = repo.API_KEY_ORDER.key(last)
  }
}

/** Revocation is the key's deletion: the entry keeps the key as it was and as it is now (revoked). */
export async function revokeApiKey(store: KeyStore, id: number, ctx: WriteContext = SYSTEM): Promise<ApiKey> {
  return mutate(transactor(store), ctx, async (tx) => {
    const current = await repo.findApiKeyById(tx, id, { forUpdate: true })
    if (!current) throw new AppError('API_KEY_NOT_FOUND', `No API key with id ${id}`)
    const revoked = repo.rowToApiKey((await repo.revokeApiKey(tx, id)) ?? current)
    return { ...deleted('api_key', repo.rowToApiKey(current), revoked), value: revoked }
  })
}
