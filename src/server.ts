import 'dotenv/config'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import pino from 'pino'
import catalogApp, { serverOptions } from './app.js'
import { type Config, ConfigError, loadConfig } from './config.js'
import { prepareDatabase } from './db/bootstrap.js'
import { flushSentry, initSentry, reportError } from './lib/sentry.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function configOrExit(): Config {
  try {
    return loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(78) // EX_CONFIG
    }
    throw err
  }
}

async function main() {
  const config = configOrExit()
  await initSentry(config) // a no-op when instrument.js ran first or SENTRY_DSN is unset
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

  let stopping: Promise<void> | undefined
  /**
   * Readiness turns 503 at once; requests keep being served for SHUTDOWN_DRAIN_MS while the load balancer
   * deregisters us; then the listener closes, in-flight requests finish, pools close. A second signal does
   * not cut anything short: SHUTDOWN_TIMEOUT_MS is the only bound.
   */
  function stop(reason: string, exitCode: number) {
    if (stopping) {
      app.log.warn({ reason }, 'already stopping; in-flight requests are still finishing')
      return stopping
    }
    app.log.info({ reason, drainMs: config.SHUTDOWN_DRAIN_MS }, 'shutting down')
    app.health.beginShutdown()
    const deadline = setTimeout(() => {
      app.log.error({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'graceful shutdown timed out; exiting')
      process.exit(1)
    }, config.SHUTDOWN_TIMEOUT_MS)
    deadline.unref()
    stopping = (async () => {
      await sleep(exitCode === 0 ? config.SHUTDOWN_DRAIN_MS : 0)
      await app.close()
      await flushSentry()
      app.log.info('stopped')
      process.exit(exitCode)
    })()
    return stopping
  }

  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void stop(signal, 0))
  // A process with an unknown fault is not trusted to keep serving: log, report, stop, and let the
  // orchestrator start a fresh one.
  const crash = (kind: string) => (err: unknown) => {
    app.log.fatal({ err, kind }, 'process crashed')
    reportError(err)
    void stop(kind, 1)
  }
  process.on('uncaughtException', crash('uncaughtException'))
  process.on('unhandledRejection', crash('unhandledRejection'))
}

main().catch((err) => {
  process.stderr.write(
    `catalog-api failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`
  )
  process.exit(1)
})
