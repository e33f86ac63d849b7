import 'dotenv/config'
import Fastify, { type FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import pino from 'pino'
import catalogApp, { serverOptions } from './app.js'
import { unknownVariables } from './config-checks.js'
import { type Config, ConfigError, ConfigSchema, loadConfigOrExit } from './config.js'
import { prepareDatabase } from './bootstrap.js'
import { closeListener } from './lib/graceful-close.js'
import { flushSentry, initSentry, reportError } from './lib/sentry.js'
import { StartupError } from './lib/startup-error.js'
import { startupSummary } from './startup-summary.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** EADDRINUSE and friends, naming the port and the variable that set it. */
function listenError(err: NodeJS.ErrnoException & { port?: number }, config: Config): Error {
  if (err.code !== 'EADDRINUSE' && err.code !== 'EACCES') return err
  const variable = err.port === config.METRICS_PORT && config.METRICS_PORT !== config.PORT ? 'METRICS_PORT' : 'PORT'
  const port = variable === 'METRICS_PORT' ? config.METRICS_PORT : config.PORT
  const problem = err.code === 'EADDRINUSE' ? 'is already in use by another process' : 'may not be bound by this user'
  return new StartupError(
    `port ${port} on ${config.HOST} (${variable}=${port}) ${problem}: stop that process or set ${variable}`
  )
}

async function main(extra: FastifyPluginAsync | undefined) {
  const config = loadConfigOrExit()
  await initSentry(config) // a no-op when instrument.js ran first or SENTRY_DSN is unset
  const bootLog = pino({ level: config.LOG_LEVEL })
  for (const { name, closest } of unknownVariables(process.env, Object.keys(ConfigSchema.properties))) {
    bootLog.warn({ variable: name, closest }, `unknown variable ${name} is ignored; did you mean ${closest}?`)
  }
  const database = await prepareDatabase(config, bootLog)

  const app = Fastify(serverOptions(config))
  app.addHook('onClose', async () => {
    await database.stop()
  })
  try {
    await app.register(fp(catalogApp, { name: 'catalog-app' }), { config, database: database.target })
    if (extra) await app.register(extra)
    await app.listen({ port: config.PORT, host: config.HOST })
  } catch (err) {
    await app.close().catch(() => {})
    await database.stop().catch(() => {})
    throw listenError(err as NodeJS.ErrnoException, config)
  }
  app.log.info(startupSummary(app, config, database), 'catalog-api started')

  let stopping: Promise<void> | undefined
  /**
   * Readiness turns 503 at once; requests keep being served for SHUTDOWN_DRAIN_MS while the load balancer
   * deregisters us; then the listener closes, accepted connections get SHUTDOWN_GRACE_MS for a last request,
   * in-flight requests finish, pools close. A second signal does not cut anything short: SHUTDOWN_TIMEOUT_MS
   * is the only bound.
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
      // Connections stay open while draining: a client that had to reconnect at the instant the listener
      // closes would be reset by the kernel (its connection queued, never accepted). From now on each
      // connection's next answer closes it.
      app.health.closeConnections(true)
      await closeListener(app.server, exitCode === 0 ? config.SHUTDOWN_GRACE_MS : 0)
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

/**
 * The process: configuration, database, the app (plus `extra` routes, e.g. a test entry point's) listening,
 * signals and graceful close; on a start-up failure a one-line reason and its exit code.
 */
export function serve(extra?: FastifyPluginAsync): void {
  main(extra).catch(exitOnStartupFailure)
}

function exitOnStartupFailure(err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`)
    process.exit(78)
  }
  // A known failure is one line that says what to do; anything else keeps its stack for a bug report.
  const known = err instanceof StartupError
  const text = known ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)
  process.stderr.write(`catalog-api failed to start: ${text}\n`)
  process.exit(known ? err.exitCode : 1)
}
