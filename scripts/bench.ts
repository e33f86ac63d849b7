// npm run bench [-- --products N --duration S --connections C --scenarios a,b --out FILE]
//
// Builds the API, prepares a PostgreSQL with the demo catalog, starts the production server in a child
// process and measures a few typical requests with autocannon. Each scenario is followed by the same load on
// two bare node:http servers, the "ceilings" one Node.js process reaches on this machine: one answering a body
// of the same size, one replaying the API's exact answer (headers included). The ratios say how much of them
// the API keeps. Prints a table; writes the details as JSON.
import { randomBytes } from 'node:crypto'
import os from 'node:os'
import { freePort } from '../src/lib/free-port.js'
import { removeRedisKeys } from './redis-cleanup.js'
import { projectRoot } from '../src/lib/project-root.js'
import { generateKey } from '../src/modules/api-keys/repository.js'
import {
  type BenchDatabase,
  countProducts,
  openDatabase,
  prepareCatalog,
  removeEarlierRunData,
  removeRunData
} from './bench/database.js'
import { type Ceiling, startCeiling } from './bench/ceiling.js'
import { type LoadResult, type LoadSettings, measureRounds, stopCurrentRun, WARMUP_SECONDS } from './bench/load.js'
import { type BenchOptions, parseOptions, type ScenarioName, USAGE, UsageError } from './bench/options.js'
import {
  Cleanup,
  elapsedSeconds,
  muteChildOutput,
  note,
  runCommand,
  spawnTracked,
  waitForHttp200
} from './bench/processes.js'
import {
  defaultReportPath,
  formatTable,
  gitInfo,
  machineInfo,
  type ScenarioResult,
  writeReport
} from './bench/report.js'
import { probe, SCENARIOS, type ScenarioContext } from './bench/scenarios.js'
import { startSeedDesign } from './bench/seed-design.js'
import { startDriverFloor } from './bench/floor.js'
import { EVENT_SCENARIOS, type EventScenarioName, runEventScenario } from './bench/events.js'

const DB_POOL_MAX = 20
// The scenarios measured against the seed design too (when --seed-design names it).
const SEED_COMPARED = new Set<ScenarioName>(['first-page', 'product-by-id', 'create-product', 'patch-product'])
const root = projectRoot()
const cleanup = new Cleanup()

interface RunSecrets {
  cursorSecret: string
  apiKey: string
}

/** `node dist/src/server.js` as in production, on the prepared database; resolves with its base URL once /health is 200. */
async function startServer(
  db: BenchDatabase,
  secrets: RunSecrets,
  extra: NodeJS.ProcessEnv,
  label: string
): Promise<string> {
  return (await startServerProcess(db, secrets, extra, label)).url
}

/** The same, with a way to stop it before the run ends. */
async function startServerProcess(
  db: BenchDatabase,
  secrets: RunSecrets,
  extra: NodeJS.ProcessEnv,
  label: string
): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort()
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // The server sees exactly this environment: a .env file must not point it at another database.
    DOTENV_PATH: os.devNull,
    DOTENV_CONFIG_PATH: os.devNull,
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    PORT: String(port),
    HOST: '127.0.0.1',
    MIGRATE_ON_STARTUP: 'false',
    SEED_ON_STARTUP: 'false',
    CURSOR_SECRET: secrets.cursorSecret,
    BOOTSTRAP_ADMIN_API_KEY: secrets.apiKey,
    DB_POOL_MAX: String(DB_POOL_MAX),
    ...db.serverEnv,
    ...extra
  }
  const server = spawnTracked(cleanup, label, process.execPath, ['dist/src/server.js'], {
    cwd: root,
    env,
    prefix: `  ${label} | `,
    maxEchoedLines: 20
  })
  const baseUrl = `http://127.0.0.1:${port}`
  // Its complaints while starting (a 503 from /health) only matter if it never gets ready: then they are in the error.
  await waitForHttp200(`${baseUrl}/health`, server.child, 60_000, () => server.recentOutput())
  server.echo(true)
  note(`${label} ready at ${baseUrl} (pid ${server.child.pid})`)
  return { url: baseUrl, stop: server.stop }
}

/** REDIS_URL if set, else the local Redis on 127.0.0.1:6379 when it answers. */
async function benchRedisUrl(): Promise<string> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
  const { Redis } = await import('ioredis')
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 1000 })
  try {
    await client.connect()
    await client.ping()
  } catch (err) {
    throw new Error(`the cached-* scenarios need a Redis (REDIS_URL or 127.0.0.1:6379): ${(err as Error).message}`, {
      cause: err
    })
  } finally {
    client.disconnect()
  }
  return url
}

async function runScenario(
  name: keyof typeof SCENARIOS,
  ctx: ScenarioContext,
  settings: LoadSettings & { rounds: number }
): Promise<ScenarioResult> {
  const result: ScenarioResult = { name }
  try {
    const scenario = await SCENARIOS[name](ctx)
    Object.assign(result, { description: scenario.description, details: scenario.details })
    const baseUrl = scenario.baseUrl ?? ctx.baseUrl
    const { bytes, recorded } = await probe(baseUrl, scenario)
    result.responseBytes = bytes
    note(
      `${name}: ${scenario.description} → ${scenario.expectStatus}, ${bytes} bytes, ${recorded.headers.length} headers`
    )

    const servers: Ceiling[] = []
    try {
      const ceiling = await startCeiling(cleanup, bytes, scenario.expectStatus)
      servers.push(ceiling)
      const exact = await startCeiling(cleanup, bytes, scenario.expectStatus, recorded)
      servers.push(exact)
      note(
        `${name}: ${WARMUP_SECONDS} s warm-up each, then ${settings.rounds} × (${Math.max(1, Math.round(settings.duration / settings.rounds))} s API, same against the ceiling of ${bytes} bytes, same against the exact ceiling)`
      )
      const seed = scenario.versusSeed && ctx.seedDesign ? scenario.versusSeed(ctx.seedDesign) : undefined
      const floor = scenario.versusFloor ? await startDriverFloor(cleanup, root, ctx.target, DB_POOL_MAX) : undefined
      if (floor) servers.push(floor)
      const ceilingSource = scenario.ceilingSource ?? scenario.source
      const comparisons = [
        { url: ceiling.url, source: ceilingSource },
        { url: exact.url, source: ceilingSource },
        ...(seed && ctx.seedDesign ? [{ url: ctx.seedDesign.url, source: seed }] : []),
        ...(floor ? [{ url: floor.url, source: scenario.source }] : [])
      ]
      const rounds = await measureRounds(baseUrl, comparisons, scenario.source, settings, name, scenario.beforeApiRun)
      result.api = rounds.api
      const [ceilingRun, exactRun, ...others] = rounds.ceilings
      const [ceilingRatios, exactRatios, ...otherRatios] = rounds.roundRatios
      ;[result.ceiling, result.exactCeiling, result.roundRatios, result.exactRoundRatios] = [
        ceilingRun,
        exactRun,
        ceilingRatios,
        exactRatios
      ]
      if (seed) [result.seedDesign, result.seedRoundRatios] = [others.shift(), otherRatios.shift()]
      if (floor) [result.driverFloor, result.floorRoundRatios] = [others.shift(), otherRatios.shift()]
    } finally {
      for (const server of servers) await server.stop()
    }
    const {
      api,
      ceiling: top,
      exactCeiling: exactTop
    } = result as Required<Pick<ScenarioResult, 'api' | 'ceiling' | 'exactCeiling'>>
    note(`${name}: ${api.reqPerSec} req/s, p99 ${api.latencyMs.p99} ms, non-2xx ${api.non2xx}, errors ${api.errors}`)
    const ratio = (of: LoadResult) =>
      of.reqPerSec > 0 ? Math.round((api.reqPerSec / of.reqPerSec) * 10_000) / 10_000 : undefined
    result.ratio = ratio(top)
    result.exactRatio = ratio(exactTop)
    if (result.seedDesign) {
      result.seedRatio = ratio(result.seedDesign)
      note(
        `${name}: seed design ${result.seedDesign.reqPerSec} req/s, p99 ${result.seedDesign.latencyMs.p99} ms → API ÷ seed design ${result.seedRatio} (rounds: ${result.seedRoundRatios?.join(', ')})`
      )
    }
    if (result.driverFloor) {
      result.floorRatio = ratio(result.driverFloor)
      const floorVsSeed = result.seedDesign?.reqPerSec
        ? `; floor ÷ seed design ${Math.round((result.driverFloor.reqPerSec / result.seedDesign.reqPerSec) * 100) / 100}`
        : ''
      note(
        `${name}: driver floor ${result.driverFloor.reqPerSec} req/s → API ÷ floor ${result.floorRatio} (rounds: ${result.floorRoundRatios?.join(', ')})${floorVsSeed}`
      )
    }
    note(`${name}: ceiling ${top.reqPerSec} req/s → ratio ${result.ratio} (rounds: ${result.roundRatios?.join(', ')})`)
    note(
      `${name}: exact ceiling ${exactTop.reqPerSec} req/s → ratio ${result.exactRatio} (rounds: ${result.exactRoundRatios?.join(', ')})`
    )
  } catch (err) {
    result.failure = (err as Error).message
    note(`${name} FAILED: ${result.failure}`)
  }
  return result
}

async function main(options: BenchOptions): Promise<number> {
  const startedAt = new Date()
  note('building (npm run build)')
  await runCommand(cleanup, 'npm', ['run', 'build', '--silent'], root)

  const db = await openDatabase(cleanup, root)
  await prepareCatalog(db.client, options.products)
  if (db.description.mode === 'embedded') await removeEarlierRunData(db.client)
  const productsInDatabase = await countProducts(db.client)

  const runId = `${startedAt.getTime().toString(36)}${randomBytes(3).toString('hex')}`.toUpperCase()
  const secrets: RunSecrets = { cursorSecret: randomBytes(32).toString('base64url'), apiKey: generateKey() }
  const skuPrefix = `BENCH-${runId}-`
  // Registered before the server, so it runs after the server stopped (cleanup runs in reverse order).
  cleanup.add('remove the products and key of this run', () => removeRunData(db.client, skuPrefix, secrets.apiKey))

  // The database scenarios measure the queries: no cache, no rate limit. The cached-* scenarios run against
  // a second server with everything on: the Redis cache, rate limiting through Redis (a quota too large to
  // trip), metrics, request ids, logs at warn.
  const isEventScenario = (s: ScenarioName): s is EventScenarioName =>
    (EVENT_SCENARIOS as readonly string[]).includes(s)
  const httpScenarios = options.scenarios.filter((s) => !isEventScenario(s))
  const eventScenarios = options.scenarios.filter(isEventScenario)
  const needsCached = httpScenarios.some((s) => s.startsWith('cached-'))
  const needsPlain = httpScenarios.some((s) => !s.startsWith('cached-'))
  // These servers deliver no webhooks: the event scenarios start their own servers once these have stopped.
  const quiet = { WEBHOOK_DISPATCH_ENABLED: 'false' }
  const plain = needsPlain
    ? await startServerProcess(db, secrets, { ...quiet, CACHE_ENABLED: 'false', RATE_LIMIT_ENABLED: 'false' }, 'server')
    : undefined
  const plainUrl = plain?.url ?? ''
  let cachedUrl: string | undefined
  let redisUrl: string | undefined
  if (needsCached) {
    redisUrl = await benchRedisUrl()
    const url = redisUrl
    cleanup.add('remove the Redis keys of this run', () => removeRedisKeys(url, `bench:${runId}:`))
    cachedUrl = await startServer(
      db,
      secrets,
      {
        ...quiet,
        REDIS_URL: redisUrl,
        REDIS_KEY_PREFIX: `bench:${runId}:`,
        CACHE_ENABLED: 'true',
        RATE_LIMIT_ENABLED: 'true',
        RATE_LIMIT_MAX_REQUESTS: '1000000000',
        RATE_LIMIT_WINDOW_MS: '60000'
      },
      'cached'
    )
  }
  const baseUrl = plainUrl || (cachedUrl ?? '')
  const seedDesign =
    options.seedDesign && options.scenarios.some((s) => SEED_COMPARED.has(s))
      ? await startSeedDesign(cleanup, options.seedDesign, db.target, db.client, runId)
      : undefined
  const ctx: ScenarioContext = {
    seedDesign,
    baseUrl,
    target: db.target,
    cachedUrl,
    client: db.client,
    products: options.products,
    skuPrefix,
    ...secrets
  }
  const settings: LoadSettings & { rounds: number } = {
    connections: options.connections,
    duration: options.duration,
    rounds: options.rounds
  }

  const results: ScenarioResult[] = []
  for (const name of httpScenarios) results.push(await runScenario(name, ctx, settings))
  if (eventScenarios.length) {
    // The event scenarios compare settings of the sealer, which any running instance may run: alone, then.
    await plain?.stop()
    if (cachedUrl) note('the cached server keeps running: its sealer may take part in the event scenarios')
    const eventCtx = {
      client: db.client,
      apiKey: secrets.apiKey,
      skuPrefix,
      connections: options.connections,
      duration: options.duration,
      start: (env: NodeJS.ProcessEnv, label: string) =>
        startServerProcess(db, secrets, { CACHE_ENABLED: 'false', RATE_LIMIT_ENABLED: 'false', ...env }, label)
    }
    for (const name of eventScenarios) results.push(await runEventScenario(name, eventCtx))
  }

  process.stdout.write(`\n${formatTable(results)}\n\n`)
  const path = options.out ?? defaultReportPath(root, startedAt)
  await writeReport(path, {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    wallSeconds: Math.round(elapsedSeconds()),
    machine: machineInfo(),
    git: gitInfo(root),
    settings: {
      products: options.products,
      productsInDatabase,
      duration: options.duration,
      warmup: WARMUP_SECONDS,
      connections: options.connections,
      rounds: options.rounds,
      scenarios: options.scenarios,
      dbPoolMax: DB_POOL_MAX,
      seedDesign: options.seedDesign ?? null,
      redis: redisUrl ? redisUrl.replace(/\/\/[^@]*@/, '//') : null,
      database: db.description
    },
    results
  })
  note(`results written to ${path}`)
  return results.some((r) => r.failure) ? 1 : 0
}

let interruptedWith: number | undefined
let interruptedAt = 0
function onSignal(signal: NodeJS.Signals) {
  const code = 128 + (os.constants.signals[signal] ?? 1)
  if (interruptedWith !== undefined) {
    // npm and tsx relay the same Ctrl+C once more; only a later one means "leave now".
    if (Date.now() - interruptedAt > 2000) process.exit(code)
    return
  }
  interruptedWith = code
  interruptedAt = Date.now()
  note(`${signal}: stopping the server, the ceiling and the database (a second one, 2 s later, leaves at once)`)
  muteChildOutput()
  stopCurrentRun()
  void cleanup.runAll().finally(() => {
    note('stopped')
    process.exit(code)
  })
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal)

let options: BenchOptions | undefined
try {
  options = parseOptions(process.argv.slice(2))
} catch (err) {
  if (!(err instanceof UsageError)) throw err
  process.stderr.write(`${err.message}\n${USAGE}\n`)
  process.exit(2)
}
if (!options) {
  process.stdout.write(`${USAGE}\n`)
  process.exit(0)
}

let exitCode = 1
try {
  exitCode = await main(options)
} catch (err) {
  note(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
} finally {
  await cleanup.runAll()
}
note(`done in ${elapsedSeconds().toFixed(0)} s`)
process.exit(interruptedWith ?? exitCode)
