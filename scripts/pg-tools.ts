import { spawn } from 'node:child_process'
import type { Config } from '../src/config.js'
import type { ConnectionTarget } from '../src/db/pool.js'
import { fail } from './cli.js'

/**
 * The environment for PostgreSQL's own client tools (pg_dump, pg_restore) to reach `target`: libpq variables,
 * so the password never appears on a command line. With DB_SSL the connection is encrypted, and verified
 * against DB_SSL_CA_FILE when one is given.
 */
export function pgToolEnv(config: Config, target: ConnectionTarget): NodeJS.ProcessEnv {
  const ssl: NodeJS.ProcessEnv = !config.DB_SSL
    ? {}
    : config.DB_SSL_CA_FILE
      ? { PGSSLMODE: 'verify-full', PGSSLROOTCERT: config.DB_SSL_CA_FILE }
      : { PGSSLMODE: 'require' }
  return {
    ...process.env,
    PGHOST: target.host,
    PGPORT: String(target.port),
    PGUSER: target.user,
    PGPASSWORD: target.password,
    PGDATABASE: target.database,
    ...ssl
  }
}

/** Runs a PostgreSQL client tool; its messages go to our stderr. Rejects naming the tool when it fails. */
export function runPgTool(tool: 'pg_dump' | 'pg_restore', args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { env, stdio: ['ignore', 'inherit', 'inherit'] })
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT')
        fail(`${tool} not found: install the PostgreSQL client tools (postgresql-client, version 15 or newer)`)
      reject(err)
    })
    child.once('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${tool} failed (${signal ?? `exit code ${code}`})`))
    )
  })
}

/** 20261204T174500Z: sortable, and safe in file and database names once lower-cased. */
export const timestamp = (date = new Date()) => date.toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '')
