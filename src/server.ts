import 'dotenv/config'
import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import pino from 'pino'
import catalogApp, { serverOptions } from './app.js'
import { ConfigError, loadConfig } from './config.js'
import { prepareDatabase } from './db/bootstrap.js'

async function main() {
  let config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(78) // EX_CONFIG
    }
    throw err
  }
  const bootLog = pino({ level: config.LOG_LEVEL })
  const database = await prepareDatabase(config, bootLog)

  const app = Fastify(serverOptions(config))
  app.addHook('onClose', async () => {
    await database.stop()
  })
  try {
    await app.register(fp(catalogApp, { name: 'catalog-app' }), { config, database: database.target })
    await app.listen({ port: config.PORT, host: config.HOST })
  } catch (err) {
    await app.close().catch(() => {})
    await database.stop().catch(() => {})
    throw err
  }

  closeWithGrace({ delay: config.SHUTDOWN_TIMEOUT_MS, logger: app.log }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an uncaught error')
    else app.log.info({ signal }, 'shutting down')
    await app.close()
  })
}

main().catch((err) => {
  process.stderr.write(`catalog-api failed to start: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
