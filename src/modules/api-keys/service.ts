import type pg from 'pg'
import type { Queryable } from '../../db/pool.js'
import { AppError } from '../../errors.js'
import {
  created,
  deleted,
  mutate,
  systemContext,
  type Transactor,
  transactorOf,
  type WriteContext
} from '../audit/mutation.js'
import * as repo from './repository.js'
import type { ApiKey, CreateApiKey } from './schemas.js'

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

export async function listApiKeys(q: Queryable): Promise<ApiKey[]> {
  return (await repo.listApiKeys(q)).map(repo.rowToApiKey)
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
