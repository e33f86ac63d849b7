import { AsyncLocalStorage } from 'node:async_hooks'

/**
 * How catalog reads inside the current async call may be routed:
 * - `forcePrimary`: only the primary (read-check-write logic, filling a shared cache that must not hold
 *   data older than the last write);
 * - `minLsn`: a replica only if it has replayed at least this WAL position (read-your-writes).
 */
export interface ReadContext {
  forcePrimary?: boolean
  minLsn?: string
}

const storage = new AsyncLocalStorage<ReadContext>()

export function withReadContext<T>(context: ReadContext, fn: () => Promise<T>): Promise<T> {
  return storage.run({ ...storage.getStore(), ...context }, fn)
}

export const currentReadContext = (): ReadContext => storage.getStore() ?? {}
