import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { freePort } from '../../src/lib/free-port.js'
import type { ConnectionTarget } from '../../src/db/pool.js'
import type { HttpRequest, RequestSource } from './load.js'
import { type Cleanup, note, runCommand, spawnTracked, waitForHttp200 } from './processes.js'

/**
 * The seed's own design (an Express app with its own schema.sql: insert, then a separate audit insert, no
 * chain, no idempotency), served beside the API so a write scenario can measure it in the same rounds.
 */
export interface SeedDesign {
  url: string
  /** Its create request: the same product fields the API's create-product scenario sends. */
  create: RequestSource
  /** Its first list page of 20 products (newest first). */
  firstPage: RequestSource
  /** One of its 10,000 demo products, picked at random per request. */
  byId: RequestSource
}

/**
 * Starts the seed design from `dir` (server.js, package.json, package-lock.json, schema.sql) on a fresh
 * database of its own on the bench's PostgreSQL: its dependencies installed into a temporary folder from the
 * local npm cache (the registry only for what the cache lacks); both removed at exit.
 */
export async function startSeedDesign(
  cleanup: Cleanup,
  dir: string,
  target: ConnectionTarget,
  client: pg.Client,
  runId: string
): Promise<SeedDesign> {
  const schema = await readFile(join(dir, 'schema.sql'), 'utf8')
  const database = `seedref_bench_${runId.toLowerCase()}`
  await client.query(`CREATE DATABASE ${database}`)
  cleanup.add(`drop the database ${database}`, async () => {
    await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
  })
  const own = new pg.Client({ ...target, database })
  await own.connect()
  try {
    await own.query(schema)
  } finally {
    await own.end()
  }

  const work = await mkdtemp(join(os.tmpdir(), 'seedref-'))
  cleanup.add(`remove ${work}`, () => rm(work, { recursive: true, force: true }))
  for (const file of ['package.json', 'package-lock.json', 'server.js'])
    await copyFile(join(dir, file), join(work, file))
  note(`seed design: installing its dependencies in ${work} (from the npm cache)`)
  await runCommand(
    cleanup,
    'npm',
    ['ci', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'],
    work
  )

  const port = await freePort()
  const server = spawnTracked(cleanup, 'seed design', process.execPath, ['server.js'], {
    cwd: work,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      PORT: String(port),
      DB_HOST: target.host,
      DB_PORT: String(target.port),
      DB_USER: target.user,
      PGPASSWORD: target.password,
      DB_NAME: database,
      // Like the API's database scenarios: no response cache, and a rate-limit quota too large to trip.
      NO_CACHE: '1',
      RATE_LIMIT_MAX_REQUESTS: '1000000000'
    },
    prefix: '  seed design | ',
    maxEchoedLines: 20
  })
  const url = `http://127.0.0.1:${port}`
  await waitForHttp200(`${url}/health`, server.child, 30_000, () => server.recentOutput())
  server.echo(true)
  note(`seed design ready at ${url} (pid ${server.child.pid}, database ${database})`)

  let counter = 0
  const headers = { 'content-type': 'application/json' }
  const create = (): HttpRequest => {
    counter += 1
    const body = {
      name: `Bench product ${counter}`,
      price: (100 + (counter % 100_000)) / 100
    }
    return { method: 'POST', path: '/api/products', headers, body: JSON.stringify(body) }
  }
  const firstPage = (): HttpRequest => ({ method: 'GET', path: '/api/products?limit=20' })
  const byId = (): HttpRequest => ({ method: 'GET', path: `/api/products/${1 + Math.floor(Math.random() * 10_000)}` })
  return { url, create, firstPage, byId }
}
