import type pg from 'pg'
import { formatLsn, maxLsn, parseLsn } from './lsn.js'
import { type DbMetrics, noDbMetrics } from './metrics.js'
import { type Queryable, withTransaction } from './pool.js'
import { currentReadContext, currentSession } from './read-context.js'
import { isReplicaFailure, type Replica, ReplicaSet } from './replicas.js'

/**
 * The handles a use-case picks from: `reader()` for catalog browsing (a replica when one is configured and
 * the current read context allows it, see read-context.ts), `primary` for writes, transactions and
 * read-check-write logic.
 */
export interface Database {
  primary: pg.Pool
  replicas: ReplicaSet
  reader(): Queryable
  /** Runs `fn` in a transaction on the primary; after COMMIT the request's consistency token is updated. */
  transaction<T>(fn: (tx: pg.PoolClient) => Promise<T>): Promise<T>
  close(): Promise<void>
}

/** Records a commit's WAL position in the current request, keeping the highest one. */
function recordCommit(lsn: string): void {
  const session = currentSession()
  if (!session) return
  const highest = maxLsn(parseLsn(session.commitLsn), parseLsn(lsn))
  if (highest !== undefined) session.commitLsn = formatLsn(highest)
}

/**
 * Reads on `replica`; a read it cannot answer (refused, dropped, timed out, shutting down) is run again on
 * the primary at once, so a failing replica costs the client at most the replica timeout, never an error.
 */
function replicaReader(replica: Replica, primary: pg.Pool, replicas: ReplicaSet, metrics: DbMetrics): Queryable {
  const query = async (...args: unknown[]) => {
    const run = replica.pool.query as (...a: unknown[]) => Promise<unknown>
    try {
      const result = await run.apply(replica.pool, args)
      replicas.succeeded(replica)
      return result
    } catch (err) {
      if (!isReplicaFailure(err)) throw err
      replicas.failed(replica, err)
      metrics.routed('fallback', 'replica_error')
      return (primary.query as (...a: unknown[]) => Promise<unknown>).apply(primary, args)
    }
  }
  return { query } as unknown as Queryable
}

export function createDatabase(
  primary: pg.Pool,
  options: { replicas?: ReplicaSet; metrics?: DbMetrics } = {}
): Database {
  const metrics = options.metrics ?? noDbMetrics
  const replicas = options.replicas ?? new ReplicaSet(primary, [], { maxLagMs: 0, log: { info() {}, warn() {} }, metrics })
  return {
    primary,
    replicas,
    reader() {
      const { replica, reason } = replicas.choose(currentReadContext(), currentSession()?.commitLsn)
      if (!replica) {
        metrics.routed('primary', reason)
        return primary
      }
      metrics.routed('replica', reason)
      return replicaReader(replica, primary, replicas, metrics)
    },
    transaction: (fn) => withTransaction(primary, fn, recordCommit),
    // pg-pool's end() waits for checked-out clients to be released: queries in flight finish first.
    async close() {
      await replicas.stop()
      await Promise.all([primary.end(), ...replicas.replicas.map((r) => r.pool.end())])
    }
  }
}
