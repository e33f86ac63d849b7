// The production shape on one machine, as local processes on loopback ports: a PostgreSQL primary and its
// streaming replica, Redis, three API instances behind nginx, Prometheus. Everything lives in one temporary
// folder and is stopped by PID.
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { migrate } from '../../src/db/migrate.js'
import { seedCatalog } from '../../src/db/seed.js'
import { projectRoot } from '../../src/lib/project-root.js'
import { type ApiInstance, apiInstance, apiPorts } from './api.js'
import { type Nginx, startNginx } from './nginx.js'
import { type PgPair, startPostgres } from './postgres.js'
import { type Managed, run } from './processes.js'
import { type Prometheus, startPrometheus } from './prometheus.js'
import { type RedisNode, startRedis } from './redis.js'

export interface StackOptions {
  instances?: number
  /** Demo products loaded before the instances start (0: an empty catalog). */
  seedProducts?: number
  /** SHUTDOWN_DRAIN_MS of every instance: how long it keeps serving after SIGTERM. */
  drainMs?: number
  /** Extra environment for every instance. */
  env?: Record<string, string>
  log?: (line: string) => void
}

export interface Stack {
  dir: string
  url: string
  adminKey: string
  database: string
  postgres: PgPair
  redis: RedisNode
  instances: ApiInstance[]
  nginx: Nginx
  prometheus: Prometheus
  /** The documented quota for anonymous clients (per address, shared by every instance through Redis). */
  anonymousQuota: { max: number; windowMs: number }
  /**
   * Stops instance `i` with SIGTERM and starts it again. It drains for SHUTDOWN_DRAIN_MS, closing each kept-alive
   * connection after its answer, then closes its listener: nginx's next connection attempt is refused, so it
   * marks the instance failed and passes the request (not yet sent) to another one.
   */
  restartInstance(i: number): Promise<void>
  stop(): Promise<void>
}

/** Builds dist/ when a source file is newer than the last build, as `npm start` does. */
export async function ensureBuilt(): Promise<void> {
  const root = projectRoot()
  const newest = (path: string): number => {
    const stat = statSync(path)
    if (!stat.isDirectory()) return stat.mtimeMs
    return Math.max(0, ...readdirSync(path).map((entry) => newest(join(path, entry))))
  }
  const stamp = join(root, 'dist', '.build-stamp')
  const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0
  const inputs = ['src', 'scripts', 'tsconfig.json', 'tsconfig.build.json', 'package.json'].map((p) => join(root, p))
  if (Math.max(...inputs.filter((p) => existsSync(p)).map(newest)) > built)
    await run('npm', ['run', '-s', 'build'], { cwd: root, timeout: 300_000 })
}

async function prepareDatabase(port: number, database: string, products: number): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database })
  await client.connect()
  try {
    await migrate(client)
    if (products > 0) await seedCatalog(client, { products })
  } finally {
    await client.end()
  }
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const log = options.log ?? (() => {})
  const count = options.instances ?? 3
  const dir = await mkdtemp(join(tmpdir(), 'catalog-stack-'))
  await chmod(dir, 0o755) // PostgreSQL runs as the postgres user when we are root
  const started: { stop(): Promise<unknown> }[] = []
  const stopAll = async () => {
    for (const part of started.reverse()) await part.stop().catch(() => {})
    started.length = 0
  }
  try {
    await ensureBuilt()
    log(`stack folder ${dir}`)
    await mkdir(join(dir, 'pg'))
    const database = 'catalog'
    const postgres = await startPostgres(join(dir, 'pg'), database)
    started.push(postgres.primary, postgres.replica)
    log(`PostgreSQL (${postgres.kind} binaries): primary :${postgres.primary.port}, replica :${postgres.replica.port}`)
    await prepareDatabase(postgres.primary.port, database, options.seedProducts ?? 1000)

    const redis = await startRedis(dir)
    started.push(redis)
    log(`Redis :${redis.port}`)

    const adminKey = `ck_stack_${randomBytes(24).toString('base64url')}`
    const anonymousQuota = { max: 100, windowMs: 900_000 }
    const env: Record<string, string> = {
      NODE_ENV: 'production',
      DOTENV_CONFIG_PATH: '/nonexistent', // the stack's settings only, never a developer's .env
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DB_HOST: '127.0.0.1',
      DB_PORT: String(postgres.primary.port),
      DB_USER: 'postgres',
      DB_NAME: database,
      DB_READ_REPLICA_HOST: '127.0.0.1',
      DB_READ_REPLICA_PORT: String(postgres.replica.port),
      REDIS_URL: redis.url,
      MIGRATE_ON_STARTUP: 'false',
      SEED_ON_STARTUP: 'false',
      TRUST_PROXY: '1',
      CURSOR_SECRET: randomBytes(32).toString('base64url'),
      BOOTSTRAP_ADMIN_API_KEY: adminKey,
      SHUTDOWN_DRAIN_MS: String(options.drainMs ?? 2000),
      RATE_LIMIT_MAX_REQUESTS: String(anonymousQuota.max),
      RATE_LIMIT_WINDOW_MS: String(anonymousQuota.windowMs),
      RATE_LIMIT_FALLBACK_DIVISOR: String(count),
      // The admin key drives load and tests through the stack; anonymous clients keep the default quota.
      RATE_LIMIT_RULES: 'admins: role:admin 1000000/1m',
      ...options.env
    }
    const ports = await apiPorts(count)
    const instances = ports.map((port, i) => apiInstance(i, port, dir, env))
    started.push(...instances)
    await Promise.all(instances.map((instance) => instance.start()))
    log(`API instances: ${instances.map((i) => i.url).join(' ')}`)

    const nginx = await startNginx(dir, ports)
    started.push(nginx)
    const prometheus = await startPrometheus(
      dir,
      ports.map((p) => `127.0.0.1:${p}`)
    )
    started.push(prometheus)

    const stack: Stack = {
      dir,
      url: nginx.url,
      adminKey,
      database,
      postgres,
      redis,
      instances,
      nginx,
      prometheus,
      anonymousQuota,
      async restartInstance(i) {
        const instance = instances[i]
        if (!instance) throw new Error(`no instance ${i}`)
        const exit = await instance.stop()
        if (exit && exit.code !== 0) throw new Error(`api-${i + 1} exited with ${exit.code ?? exit.signal} on SIGTERM`)
        await instance.start()
      },
      async stop() {
        await stopAll()
        await rm(dir, { recursive: true, force: true })
      }
    }
    return stack
  } catch (err) {
    await stopAll()
    throw err
  }
}

/** Every process of the stack that is still running (for a last-resort SIGKILL by PID). */
export function processesOf(stack: Stack): Managed[] {
  return [
    stack.nginx.process(),
    stack.prometheus.process(),
    ...stack.instances.map((i) => i.process()),
    stack.redis.process(),
    stack.postgres.replica.process(),
    stack.postgres.primary.process()
  ].filter((p): p is Managed => p !== undefined && p.running())
}
