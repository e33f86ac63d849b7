import type pg from 'pg'
import { type Queryable, withTransaction } from './pool.js'

/**
 * The handles a use-case picks from: `reader()` for catalog browsing (a replica when one is configured and
 * the current read context allows it, see read-context.ts), `primary` for writes, transactions and
 * read-check-write logic.
 */
export interface Database {
  primary: pg.Pool
  reader(): Queryable
  transaction<T>(fn: (tx: pg.PoolClient) => Promise<T>): Promise<T>
  close(): Promise<void>
}

export function createDatabase(primary: pg.Pool): Database {
  return {
    primary,
    reader: () => primary,
    transaction: (fn) => withTransaction(primary, fn),
    close: () => primary.end()
  }
}
