import type { Queryable } from '../../db/pool.js'
import { AppError } from '../../errors.js'
import * as repo from './repository.js'
import type { ApiKey, CreateApiKey } from './schemas.js'

export async function createApiKey(q: Queryable, input: CreateApiKey): Promise<ApiKey & { key: string }> {
  const key = repo.generateKey()
  const row = await repo.insertApiKey(q, { ...input, key })
  return { ...repo.rowToApiKey(row), key }
}

/** Registers a key given from outside (BOOTSTRAP_ADMIN_API_KEY); a no-op when it is already known. */
export async function registerApiKey(q: Queryable, input: CreateApiKey & { key: string }): Promise<boolean> {
  if (await repo.keyExists(q, input.key)) return false
  return (await repo.insertApiKey(q, input)) !== undefined
}

export async function listApiKeys(q: Queryable): Promise<ApiKey[]> {
  return (await repo.listApiKeys(q)).map(repo.rowToApiKey)
}

export async function revokeApiKey(q: Queryable, id: number): Promise<ApiKey> {
  const row = await repo.revokeApiKey(q, id)
  if (!row) throw new AppError('API_KEY_NOT_FOUND', `No API key with id ${id}`)
  return repo.rowToApiKey(row)
}
