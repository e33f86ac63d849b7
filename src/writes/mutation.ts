import pg from 'pg'
import type { Database } from '../db/database.js'
import type { Queryable } from '../db/pool.js'
import { atBegin, beforeCommit, prepared, takeCommitTail, withTransaction } from '../db/pool.js'
import { unknownKey } from '../errors.js'
import { claimFreshKeys, claimKey, type IdempotencyClaim, saveResponse, saveResponsesSql } from './idempotency.js'
import { RunAlone } from './coalescer.js'
import type { Actor, AuditAction, EntityType } from './audit-chain.js'
import { appendEntriesAfter, appendEntriesSql, appendEntry, appendEntrySql, type NewEntry } from './audit-log.js'

/** Who is writing, from where: built once per request by the route, passed into every service mutation. */
export interface WriteContext {
  actor: Actor
  ip: string | null
  userAgent: string | null
  requestId: string | null
  idempotency?: IdempotencyClaim
  /**
   * The API key the write was admitted with from this instance's cache of key lookups: the transaction checks it
   * is still active before its first statement (a revoked key's write is refused with 401 and changes nothing).
   */
  keyToCheck?: number
  /** Called once per committed audit entry (metrics). */
  onAudited?: () => void
}

/** The SQLSTATE api_key_must_be_active() raises (migration 007). */
const KEY_NOT_ACTIVE = 'CK401'
const keyGuardSql = (keyId: number) => {
  if (!Number.isSafeInteger(keyId)) throw new TypeError(`not a key id: ${keyId}`)
  return `SELECT api_key_must_be_active(${keyId})`
}

/** Writes made outside HTTP (the apikey CLI, BOOTSTRAP_ADMIN_API_KEY) are recorded with a system actor. */
export const systemContext = (name: string): WriteContext => ({
  actor: { type: 'system', id: null, name, role: null },
  ip: null,
  userAgent: null,
  requestId: null
})

export interface Transactor {
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>
  /** True when its COMMIT also sends the statements queued with beforeCommit() (withTransaction does). */
  sendsCommitTail?: boolean
}

/** A transactor on a pool (a client per transaction) or on one client that is not in a transaction yet. */
export function transactorOf(handle: pg.Pool | pg.ClientBase): Transactor {
  if (handle instanceof pg.Pool) return { transaction: (fn) => withTransaction(handle, fn), sendsCommitTail: true }
  return {
    sendsCommitTail: true,
    async transaction(fn) {
      await handle.query('BEGIN')
      try {
        const result = await fn(handle)
        await handle.query(`${takeCommitTail(handle)}COMMIT`)
        return result
      } catch (err) {
        takeCommitTail(handle)
        await handle.query('ROLLBACK').catch(() => {})
        throw err
      }
    }
  }
}

export interface AuditedChange<T> {
  value: T
  action: AuditAction
  entityType: EntityType
  entityId: number
  oldValues: Record<string, unknown> | null
  newValues: Record<string, unknown> | null
  /** Further entities changed in the same transaction (a product's variants): one entry each, after this one. */
  also?: AuditedChange<unknown>[]
}

// Bookkeeping columns every update changes; listing them would hide what the writer changed.
const BOOKKEEPING = new Set(['version', 'updatedAt', 'lastUsedAt'])

export function changedFields(
  oldValues: Record<string, unknown> | null,
  newValues: Record<string, unknown> | null
): string[] {
  // A create or a delete changes every field it has: nothing to compare (a bulk import creates thousands a second).
  const only = oldValues === null ? newValues : newValues === null ? oldValues : undefined
  if (only)
    return Object.keys(only)
      .filter((k) => !BOOKKEEPING.has(k) && only[k] !== undefined)
      .sort()
  const keys = new Set([...Object.keys(oldValues ?? {}), ...Object.keys(newValues ?? {})])
  return [...keys]
    .filter((k) => !BOOKKEEPING.has(k) && JSON.stringify(oldValues?.[k]) !== JSON.stringify(newValues?.[k]))
    .sort()
}

type Entity = { id: number } & object
const values = (entity: Entity | null) => (entity === null ? null : ({ ...entity } as Record<string, unknown>))

export const created = <T extends Entity>(entityType: EntityType, entity: T): AuditedChange<T> => ({
  value: entity,
  action: 'create',
  entityType,
  entityId: entity.id,
  oldValues: null,
  newValues: values(entity)
})
export const updated = <T extends Entity>(entityType: EntityType, before: Entity, after: T): AuditedChange<T> => ({
  value: after,
  action: 'update',
  entityType,
  entityId: after.id,
  oldValues: values(before),
  newValues: values(after)
})
export const deleted = <T extends Entity>(
  entityType: EntityType,
  before: T,
  after: Entity | null = null
): AuditedChange<T> => ({
  value: before,
  action: 'delete',
  entityType,
  entityId: before.id,
  oldValues: values(before),
  newValues: values(after)
})

/** The audit entries of a change: its own, then one per further entity it changed. */
const entriesOf = (done: AuditedChange<unknown>, ctx: WriteContext): NewEntry[] =>
  [done, ...(done.also ?? [])].map((c) => ({
    action: c.action,
    entityType: c.entityType,
    entityId: c.entityId,
    actor: ctx.actor,
    ip: ctx.ip,
    userAgent: ctx.userAgent,
    requestId: ctx.requestId,
    oldValues: c.oldValues,
    newValues: c.newValues,
    changedFields: changedFields(c.oldValues, c.newValues)
  }))

/**
 * Every mutation ends the same way: in one transaction, with one client, the change, its audit entry and
 * (with an Idempotency-Key) the stored response commit together or not at all. A retry of a committed
 * idempotent request returns the stored data without running `change` again.
 */
export async function mutate<T>(
  db: Transactor,
  ctx: WriteContext,
  change: (tx: Queryable) => Promise<AuditedChange<T>>
): Promise<T> {
  const claim = ctx.idempotency
  const outcome = await db
    .transaction(async (tx) => {
      if (ctx.keyToCheck !== undefined) await atBegin(tx, keyGuardSql(ctx.keyToCheck))
      if (claim) {
        const stored = await claimKey(tx, claim)
        if (stored) return { value: stored.body.data as T, audited: 0 }
      }
      const done = await change(tx)
      if (withEntries.delete(tx))
        throw new Error('writeWithEntries is for mutateMany; this change would not be written')
      const entries = entriesOf(done, ctx)
      if (claim) await saveResponse(tx, claim, { success: true, data: done.value })
      // The entries go in the COMMIT's round trip when the transactor sends it there (they fail the commit if they fail).
      for (const entry of entries) {
        if (db.sendsCommitTail) beforeCommit(tx, appendEntrySql(entry))
        else await appendEntry(tx, entry)
      }
      return { value: done.value, audited: entries.length }
    })
    .catch((err: unknown) => {
      throw (err as { code?: string })?.code === KEY_NOT_ACTIVE ? unknownKey() : err
    })
  if (claim && outcome.audited === 0) claim.replayed = true
  for (let i = 0; i < outcome.audited; i++) ctx.onAudited?.()
  return outcome.value
}

const withEntries = new WeakMap<object, { ctes: string; params: unknown[] }>()

/**
 * Inside mutateMany's `change`: the batch's rows are written by data-modifying common table expressions ("name AS
 * (...), ", parameters $1 to $`params.length`), which mutateMany runs as one statement with the batch's audit
 * entries, prepared on the connection. A statement of literals sent with the COMMIT (beforeCommit) is parsed and
 * planned at every batch; this one once per connection, for a round trip of its own (docs/architecture.md).
 */
export function writeWithEntries(tx: Queryable, ctes: string, params: unknown[]): void {
  if (withEntries.has(tx)) throw new Error('one statement with the entries per transaction')
  withEntries.set(tx, { ctes, params })
}

/** One request of a batch: its database handle (its session records the batch's commit) and its write context. */
export interface BatchedRequest {
  db: Database
  ctx: WriteContext
}

/**
 * The mutations of many requests in one transaction on the primary (a batch of coalescer.ts): `change` returns one
 * change per request, in their order; every request's key is checked before the first statement, every change's
 * audit entries, with its own request's actor and id, commit with the batch or not at all, and the commit's WAL
 * position is every request's consistency token. Requests with an Idempotency-Key are batched when every key is
 * fresh (claimFreshKeys): each stored response then commits with the batch; otherwise the batch throws RunAlone and
 * each request claims its own key.
 */
export async function mutateMany<T>(
  requests: BatchedRequest[],
  change: (tx: Queryable) => Promise<AuditedChange<T>[]>
): Promise<T[]> {
  const first = requests[0]
  if (!first) return []
  const contexts = requests.map((r) => r.ctx)
  const claims = contexts.flatMap((ctx) => (ctx.idempotency ? [ctx.idempotency] : []))
  const run = async (tx: Queryable) => {
    const keys = [...new Set(contexts.flatMap((ctx) => (ctx.keyToCheck === undefined ? [] : [ctx.keyToCheck])))]
    if (keys.length) await atBegin(tx, keys.map(keyGuardSql).join(';\n'))
    if (claims.length && !(await claimFreshKeys(tx, claims))) throw new RunAlone('an Idempotency-Key is not fresh')
    const done = await change(tx)
    if (done.length !== contexts.length) throw new Error(`${done.length} changes for ${contexts.length} requests`)
    const entries = done.map((d, i) => entriesOf(d, contexts[i] as WriteContext))
    const saved = done.flatMap((d, i) => {
      const claim = contexts[i]?.idempotency
      return claim ? [{ claim, body: { success: true as const, data: d.value } }] : []
    })
    // The stored responses go in the COMMIT's round trip (they fail the commit if they fail); the entries too, unless
    // the change left its rows' statement to be written with them.
    if (saved.length) beforeCommit(tx, saveResponsesSql(saved))
    const rowsStatement = withEntries.get(tx)
    if (rowsStatement) {
      withEntries.delete(tx)
      const append = appendEntriesAfter(rowsStatement.ctes, rowsStatement.params.length, entries.flat())
      await tx.query(prepared(append.sql), [...rowsStatement.params, ...append.params])
    } else beforeCommit(tx, appendEntriesSql(entries.flat()))
    return done.map((d, i) => ({ value: d.value, audited: (entries[i] as NewEntry[]).length }))
  }
  const outcome = await withTransaction(first.db.primary, run, (lsn) => {
    for (const r of requests) r.db.noteCommit(lsn)
  })
  return outcome.map(({ value, audited }, i) => {
    for (let n = 0; n < audited; n++) contexts[i]?.onAudited?.()
    return value
  })
}
