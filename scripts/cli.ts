import 'dotenv/config'
import pg from 'pg'
import pino from 'pino'
import { type Config, ConfigError, loadConfig, usesEmbeddedDatabase } from '../src/config.js'
import { startEmbeddedPostgres } from '../src/db/embedded.js'
import { primaryTarget } from '../src/db/pool.js'

export function cliConfig(): Config {
  try {
    return loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(78)
    }
    throw err
  }
}

/**
 * Runs `fn` with a client of the configured database: DB_HOST when set, else the embedded server in
 * DATA_DIR (reused when the API is running on it, started and stopped here otherwise).
 */
export async function withClient<T>(config: Config, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const log = pino({ level: config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL }, pino.destination(2))
  const embedded = usesEmbeddedDatabase(config)
    ? await startEmbeddedPostgres({
        dataDir: config.DATA_DIR,
        database: config.DB_NAME,
        log,
        runtimeDir: config.EMBEDDED_POSTGRES_DIR
      })
    : undefined
  const client = new pg.Client({
    ...(embedded?.target ?? primaryTarget(config)),
    ssl: config.DB_SSL ? { rejectUnauthorized: true } : undefined
  })
  try {
    await client.connect()
    return await fn(client)
  } finally {
    await client.end().catch(() => {})
    await embedded?.stop()
  }
}

export function fail(message: string): never {
  process.stderr.write(`${message}\n`)
  process.exit(2)
}
