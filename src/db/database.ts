import type pg from 'pg'
import { type DbMetrics, noDbMetrics } from './metrics.js'
import { type PreparedStatement, type Queryable, withTransaction } from './pool.js'
import { type ConsistencySession, type ReadContext, recordCommit } from './read-context.js'
import { isReplicaFailure, type Replica, ReplicaSet } from './replicas.js'

/**
 * The handles a use-case picks from: `reader()` for catalog browsing (a replica when one is configured and
 * the read context allows it, see read-context.ts), `primary` for writes, transactions and read-check-write
 * logic. The context travels with the handle: `scoped()` makes one for a request or a cache fill.
 */
export interface Database {
  primary: pg.Pool
  replicas: ReplicaSet
  reader(): Queryable
  /**
   * The pool `reader()` would read from, for work that needs one connection of its own (a cursor in a snapshot).
   * No fallback to the primary once a read has started there.
   */
  readerPool(): pg.Pool
  /** Runs `fn` in a transaction on the primary; after COMMIT the session's consistency token is updated. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>
  /** Its COMMIT also sends the statements queued with beforeCommit() (see pool.ts). */
  sendsCommitTail: true
  /** Records a commit made for this session elsewhere (a coalesced batch's transaction): its consistency token. */
  noteCommit(lsn: string): void
  /** The same database, reading as `context` allows and recording commits in `session`. */
  scoped(context: ReadContext, session?: ConsistencySession): Database
  close(): Promise<void>
}

/**
 * Reads on `replica`; a read it cannot answer (refused, dropped, timed out, shutting down) is run again on
 * the primary at once, so a failing replica costs the client at most the replica timeout, never an error.
 */
function replicaReader(replica: Replica, primary: pg.Pool, replicas: ReplicaSet, metrics: DbMetrics): Queryable {
  return {
    async query<R extends pg.QueryResultRow>(statement: string | PreparedStatement, values?: unknown[]) {
      try {
        const result = await replica.pool.query<R>(statement, values)
        replicas.succeeded(replica)
        return result
      } catch (err) {
        if (!isReplicaFailure(err)) throw err
        replicas.failed(replica, err)
        metrics.routed('fallback', 'replica_error')
        return primary.query<R>(statement, values)
      }
    }
  }
}

export function createDatabase(
  primary: pg.Pool,
  options: { replicas?: ReplicaSet; metrics?: DbMetrics } = {}
): Database {
  const metrics = options.metrics ?? noDbMetrics
  const replicas =
    options.replicas ?? new ReplicaSet(primary, [], { maxLagMs: 0, log: { info() {}, warn() {} }, metrics })
  // pg-pool's end() waits for checked-out clients to be released: queries in flight finish first.
  const close = async () => {
    await replicas.stop()
    await Promise.all([primary.end(), ...replicas.replicas.map((r) => r.pool.end())])
  }
  const scoped = (context: ReadContext, session?: ConsistencySession): Database => ({
    primary,
    replicas,
    reader() {
      const { replica, reason } = replicas.choose(context, session?.commitLsn)
      if (!replica) {
        metrics.routed('primary', reason)
        return primary
      }
      metrics.routed('replica', reason)
      return replicaReader(replica, primary, replicas, metrics)
    },
    readerPool() {
      const { replica, reason } = replicas.choose(context, session?.commitLsn)
      metrics.routed(replica ? 'replica' : 'primary', reason)
      return replica?.pool ?? primary
    },
    transaction: (fn) => withTransaction(primary, fn, session && ((lsn) => recordCommit(session, lsn))),
    sendsCommitTail: true,
    noteCommit(lsn) {
      if (session) recordCommit(session, lsn)
    },
    scoped: (inner, innerSession) => scoped({ ...context, ...inner }, innerSession ?? session),
    close
  })
  return scoped({})
}
