import pg from 'pg'
import { StartupError } from '../lib/startup-error.js'
import type { ConnectionTarget } from './pool.js'

interface Logger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const FIRST_RETRY_MS = 250
const LONGEST_RETRY_MS = 5000

/** The target as the variables that name it, never the password. */
export function describeTarget(target: ConnectionTarget, tls: boolean, embedded = false): string {
  const where = `DB_HOST=${target.host} DB_PORT=${target.port} DB_NAME=${target.database} DB_USER=${target.user}`
  return `${embedded ? 'the embedded PostgreSQL ' : ''}${where} (TLS ${tls ? 'on' : 'off'})`
}

/** Why a connection attempt failed, in words (pg and Node report these as codes or SQLSTATEs). */
export function connectionCause(err: unknown): string {
  // Node reports a host with several addresses as an AggregateError of one error per address.
  const e = (err instanceof AggregateError && err.errors[0] ? err.errors[0] : err) as {
    code?: string
    message?: string
  }
  const message = e?.message ?? String(err)
  switch (e?.code) {
    case 'ECONNREFUSED':
      return 'connection refused (is PostgreSQL running and listening on that host and port?)'
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host name not found'
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable'
    case 'ETIMEDOUT':
      return 'timed out'
    case 'ECONNRESET':
      return 'connection reset (by the server or something in between)'
    case '28000': // invalid_authorization_specification: e.g. role "x" does not exist
    case '28P01': // invalid_password: password authentication failed for user "x"
    case '3D000': // invalid_catalog_name: database "x" does not exist
    case '57P03': // cannot_connect_now: the database system is starting up
    case '53300': // too_many_connections
      return message
  }
  if (/timeout/i.test(message)) return 'timed out (no answer from the server)'
  return message
}

/**
 * A connected client of `target`. An unreachable database is retried with exponential backoff for `timeoutMs`
 * (a container often starts before its database); each failure is one log line naming the target and
 * the cause, and the last one ends the start (exit 1) with that line.
 */
export async function connectAtStartup(
  target: ConnectionTarget,
  options: { ssl: pg.ClientConfig['ssl']; timeoutMs: number; log: Logger; embedded?: boolean }
): Promise<pg.Client> {
  const described = describeTarget(target, Boolean(options.ssl), options.embedded)
  const started = Date.now()
  let delay = FIRST_RETRY_MS
  for (let attempt = 1; ; attempt++) {
    const remaining = options.timeoutMs - (Date.now() - started)
    const client = new pg.Client({
      ...target,
      ssl: options.ssl,
      // A silent host must not take the whole window in one attempt.
      connectionTimeoutMillis: Math.min(Math.max(remaining, 1000), 10_000)
    })
    try {
      await client.connect()
      if (attempt > 1) options.log.info({ attempts: attempt }, `database reachable: ${described}`)
      return client
    } catch (err) {
      await client.end().catch(() => {})
      const line = `cannot connect to the database ${described}: ${connectionCause(err)}`
      const elapsed = Date.now() - started
      if (elapsed + delay > options.timeoutMs) {
        throw new StartupError(
          `${line}; gave up after ${attempt} attempt${attempt === 1 ? '' : 's'} in ${(elapsed / 1000).toFixed(1)} s (DB_STARTUP_TIMEOUT_MS=${options.timeoutMs})`
        )
      }
      options.log.warn({ attempt, retryInMs: delay }, `${line}; retrying`)
      await sleep(delay)
      delay = Math.min(delay * 2, LONGEST_RETRY_MS)
    }
  }
}
