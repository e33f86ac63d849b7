import type pg from 'pg'
import { type Config, usesEmbeddedDatabase } from './config.js'
import { countActiveKeys } from './modules/api-keys/repository.js'
import { createApiKey, registerApiKey } from './modules/api-keys/service.js'
import { systemContext } from './writes/mutation.js'
import { startEmbeddedPostgres } from './db/embedded.js'
import { migrate } from './db/migrate.js'
import { type ConnectionTarget, primaryTarget, sslOptions } from './db/pool.js'
import { catalogIsEmpty, seedCatalog } from './db/seed.js'
import { connectAtStartup } from './db/startup.js'

interface Logger {
  info(obj: object, msg: string): void
  debug(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

export interface PreparedDatabase {
  target: ConnectionTarget
  /** Where the embedded server keeps its binaries and data, when it is used. */
  embedded?: { dataDir: string; binDir: string }
  /** Stops the embedded server when this process started one. */
  stop(): Promise<void>
}

/**
 * Everything that happens before the API serves: the embedded server when no DB_HOST is set, migrations,
 * the demo catalog, and the API keys given by configuration.
 */
export async function prepareDatabase(config: Config, log: Logger): Promise<PreparedDatabase> {
  const embedded = usesEmbeddedDatabase(config)
    ? await startEmbeddedPostgres({
        dataDir: config.DATA_DIR,
        database: config.DB_NAME,
        log,
        runtimeDir: config.EMBEDDED_POSTGRES_DIR
      })
    : undefined
  const target = embedded?.target ?? primaryTarget(config)
  let client: pg.Client
  try {
    client = await connectAtStartup(target, {
      ssl: sslOptions(config),
      timeoutMs: config.DB_STARTUP_TIMEOUT_MS,
      log,
      embedded: embedded !== undefined
    })
  } catch (err) {
    await embedded?.stop().catch(() => {})
    throw err
  }
  try {
    if (config.MIGRATE_ON_STARTUP) {
      const applied = await migrate(client)
      if (applied.length) log.info({ applied }, 'migrations applied')
    }
    // With the embedded default the demo catalog loads on first start unless SEED_ON_STARTUP says otherwise.
    const seed = config.SEED_ON_STARTUP || (embedded !== undefined && process.env.SEED_ON_STARTUP === undefined)
    if (seed && (await catalogIsEmpty(client))) {
      const started = Date.now()
      const result = await seedCatalog(client, { products: config.SEED_PRODUCTS })
      log.info({ ...result, ms: Date.now() - started }, 'demo catalog loaded')
    }
    if (config.BOOTSTRAP_ADMIN_API_KEY) {
      const added = await registerApiKey(
        client,
        { name: 'bootstrap-admin', role: 'admin', key: config.BOOTSTRAP_ADMIN_API_KEY },
        systemContext('bootstrap')
      )
      if (added) log.info({}, 'BOOTSTRAP_ADMIN_API_KEY registered')
    }
    if (embedded && config.NODE_ENV === 'development' && (await countActiveKeys(client)) === 0) {
      const created = await createApiKey(
        client,
        { name: 'development-admin', role: 'admin' },
        systemContext('bootstrap')
      )
      // Printed once, on purpose: this is the only time the key exists outside its hash.
      process.stdout.write(`\nDevelopment admin API key (shown once): ${created.key}\n\n`)
    }
  } catch (err) {
    await client.end().catch(() => {})
    await embedded?.stop().catch(() => {})
    throw err
  }
  await client.end()
  return {
    target,
    ...(embedded ? { embedded: { dataDir: embedded.dataDir, binDir: embedded.binDir } } : {}),
    stop: async () => embedded?.stop()
  }
}
