import type { IncomingHttpHeaders } from 'node:http'
import { formatLsn, maxLsn, parseLsn } from './lsn.js'

/**
 * How a use-case's catalog reads may be routed (passed along explicitly, see Database.scoped):
 * - `forcePrimary`: only the primary (read-check-write logic, filling a shared cache that must not hold
 *   data older than the last write);
 * - `minLsn`: a replica only if it has replayed at least this WAL position (read-your-writes).
 */
export interface ReadContext {
  forcePrimary?: boolean
  minLsn?: string
}

/**
 * What one request wrote: the primary's WAL position after its last commit. It becomes the consistency
 * token of the response, and the request's later reads need that position.
 */
export interface ConsistencySession {
  commitLsn?: string
}

/** Sent on every write response; a client sends it back on its reads to see its own writes (docs/api.md). */
export const CONSISTENCY_TOKEN_HEADER = 'x-consistency-token'

/** The read context a request asks for: its consistency token, when it sent a valid one. */
export function readContextOf(headers: IncomingHttpHeaders): ReadContext {
  const given = headers[CONSISTENCY_TOKEN_HEADER]
  return typeof given === 'string' && parseLsn(given) !== undefined ? { minLsn: given.trim() } : {}
}

/** Records a commit's WAL position in `session`, keeping the highest one. */
export function recordCommit(session: ConsistencySession, lsn: string): void {
  const highest = maxLsn(parseLsn(session.commitLsn), parseLsn(lsn))
  if (highest !== undefined) session.commitLsn = formatLsn(highest)
}
