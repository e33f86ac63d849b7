import 'dotenv/config'
import pg from 'pg'
import pino from 'pino'
import { type Config, usesEmbeddedDatabase } from '../src/config.js'
import { EmbeddedPostgresMissingError, startEmbeddedPostgres } from '../src/db/embedded.js'
import { type ConnectionTarget, primaryTarget, sslOptions } from '../src/db/pool.js'

async function startEmbedded(config: Config, log: pino.Logger) {
  try {
    return await startEmbeddedPostgres({
      dataDir: config.DATA_DIR,
      database: config.DB_NAME,
      log,
      runtimeDir: config.EMBEDDED_POSTGRES_DIR
    })
  } catch (err) {
    if (err instanceof EmbeddedPostgresMissingError) fail(err.message)
    throw err
  }
}

/**
 * Runs `fn` with the configured database's connection target: DB_HOST when set, else the embedded server in
 * DATA_DIR (reused when the API is running on it, started and stopped here otherwise).
 */
export async function withTarget<T>(config: Config, fn: (target: ConnectionTarget) => Promise<T>): Promise<T> {
  const log = pino({ level: config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL }, pino.destination(2))
  const embedded = usesEmbeddedDatabase(config) ? await startEmbedded(config, log) : undefined
  try {
    return await fn(embedded?.target ?? primaryTarget(config))
  } finally {
    await embedded?.stop()
  }
}

/** Runs `fn` with a client of the configured database (see withTarget), with TLS as the server's pools have it. */
export function withClient<T>(config: Config, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  return withTarget(config, async (target) => {
    const client = new pg.Client({ ...target, ssl: sslOptions(config) })
    try {
      await client.connect()
      return await fn(client)
    } finally {
      await client.end().catch(() => {})
    }
  })
}

export function fail(message: string): never {
  process.stderr.write(`${message}\n`)
  process.exit(2)
}
