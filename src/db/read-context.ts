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

/**
 * What one request wrote: the primary's WAL position after its last commit. Shared by reference with every
 * nested read context of the request, so a commit made inside `withReadContext` is still seen by the
 * response (the consistency token) and by the request's later reads (which then need that position).
 */
export interface ConsistencySession {
  commitLsn?: string
}

interface Store extends ReadContext {
  session?: ConsistencySession
}

const storage = new AsyncLocalStorage<Store>()

export function withReadContext<T>(context: ReadContext, fn: () => Promise<T>): Promise<T> {
  return storage.run({ ...storage.getStore(), ...context }, fn)
}

export const currentReadContext = (): ReadContext => storage.getStore() ?? {}

/** Runs `fn` (and everything it starts) as one request: reads honour `context`, commits land in `session`. */
export function runInRequestContext<T>(context: ReadContext, session: ConsistencySession, fn: () => T): T {
  return storage.run({ ...context, session }, fn)
}

/** The current request's session, when there is one. */
export const currentSession = (): ConsistencySession | undefined => storage.getStore()?.session
