import { randomBytes } from 'node:crypto'
import type { TestContext } from 'node:test'
import assert from 'node:assert/strict'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import fp from 'fastify-plugin'
import pg from 'pg'
import catalogApp, { serverOptions } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import type { ConnectionTarget } from '../src/db/pool.js'
import { seedCatalog } from '../src/db/seed.js'
import { createApiKey } from '../src/modules/api-keys/service.js'
import { type Contract, enforceContract } from './contract.js'

type Hooks = Pick<TestContext, 'after'>

const stacks = new WeakMap<Hooks, (() => unknown)[]>()

/** Runs `fn` after the test, last-registered first (node:test runs `after` hooks first-registered first). */
export function defer(t: Hooks, fn: () => unknown): void {
  let stack = stacks.get(t)
  if (!stack) {
    const created: (() => unknown)[] = []
    stacks.set(t, created)
    t.after(async () => {
      for (const task of created.reverse()) await task()
    })
    stack = created
  }
  stack.push(fn)
}

/** A pg client on `target`, ended after the test (before its database is dropped). */
export async function connect(t: Hooks, target: ConnectionTarget): Promise<pg.Client> {
  const client = new pg.Client(target)
  await client.connect()
  defer(t, () => client.end())
  return client
}

export function serverTarget(database = 'postgres'): ConnectionTarget {
  const { TEST_PG_HOST, TEST_PG_PORT, TEST_PG_USER, TEST_PG_PASSWORD } = process.env
  if (!TEST_PG_HOST) throw new Error('run the tests with `npm test`: it prepares the PostgreSQL they use')
  return {
    host: TEST_PG_HOST,
    port: Number(TEST_PG_PORT),
    user: TEST_PG_USER ?? 'postgres',
    password: TEST_PG_PASSWORD ?? '',
    database
  }
}

async function onAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client(serverTarget())
  await admin.connect()
  try {
    return await fn(admin)
  } finally {
    await admin.end()
  }
}

/** A fresh database for this test: migrated (a clone of the template) unless `empty`. Dropped afterwards. */
export async function createTestDatabase(t: Hooks, opts: { empty?: boolean } = {}): Promise<ConnectionTarget> {
  const name = `catalog_test_${process.pid}_${randomBytes(4).toString('hex')}`
  const template = opts.empty ? 'template0' : process.env.TEST_PG_TEMPLATE
  await onAdmin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${template}`))
  defer(t, () => onAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)))
  return serverTarget(name)
}

export interface TestApp extends FastifyInstance {
  target: ConnectionTarget
  /** Checks the responses received so far against the OpenAPI document (also done when the test ends). */
  contract: Contract
}

/** The app on its own migrated database, with test configuration; closed after the test. */
export async function build(
  t: Hooks,
  env: Record<string, string> = {},
  target?: ConnectionTarget,
  /** Runs before the app is ready, e.g. to add a hook that observes requests. */
  setup?: (app: FastifyInstance) => void
): Promise<TestApp> {
  const database = target ?? (await createTestDatabase(t))
  // Load shedding off unless a test turns it on: a shared, busy CI machine is not an overloaded instance.
  // Rate limiting off unless a test turns it on: many tests send more than the default 100 requests.
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DB_POOL_MAX: '10',
    PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0',
    RATE_LIMIT_ENABLED: 'false',
    ...env
  })
  const app = Fastify(serverOptions(config))
  await app.register(fp(catalogApp, { name: 'catalog-app' }), { config, database })
  setup?.(app)
  const contract = enforceContract(app)
  await app.ready()
  contract.wrapInject()
  defer(t, () => app.close())
  // Runs before the close above: every response the test received must match the OpenAPI document.
  defer(t, () => contract.verify())
  return Object.assign<FastifyInstance, { target: ConnectionTarget; contract: Contract }>(app, {
    target: database,
    contract
  })
}

/** A new API key of `role` in the app's database. */
export async function apiKey(
  app: FastifyInstance,
  role: 'admin' | 'editor' | 'storefront' = 'editor'
): Promise<string> {
  return (await createApiKey(app.db.primary, { name: `test-${role}`, role })).key
}

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

export async function seed(app: FastifyInstance, products: number): Promise<void> {
  const client = await app.db.primary.connect()
  try {
    await seedCatalog(client, { products })
  } finally {
    client.release()
  }
}

/** Row count of `table`, read on the primary: the proof that a rejected write wrote nothing. */
export async function count(app: FastifyInstance, table: 'products' | 'categories' | 'api_keys'): Promise<number> {
  const { rows } = await app.db.primary.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)
  return rows[0]?.n ?? 0
}

export interface ProblemBody {
  success: false
  type: string
  title: string
  status: number
  detail: string
  code: string
  requestId: string
  instance?: string
  errors?: { field: string; message: string }[]
  [extension: string]: unknown
}

/** Asserts `res` is an RFC 9457 problem with every promised member, and returns its body. */
export function assertProblem(res: LightMyRequestResponse, status: number, code: string): ProblemBody {
  assert.equal(res.statusCode, status, `expected ${status} ${code}, got ${res.statusCode}: ${res.body}`)
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/)
  const body = res.json()
  assert.equal(body.success, false)
  assert.equal(body.status, status)
  assert.equal(body.code, code)
  assert.equal(body.type, `/problems#${code.toLowerCase().replaceAll('_', '-')}`)
  assert.ok(typeof body.title === 'string' && body.title.length > 0, 'title is not empty')
  assert.ok(typeof body.detail === 'string' && body.detail.length > 0, 'detail is not empty')
  assert.equal(body.requestId, res.headers['x-request-id'])
  assert.equal(body.stack, undefined)
  return body
}

/** product_prices as stored, and as refresh_product_prices writes it again (in a transaction rolled back). */
export async function pricesAgainstTheFunction(app: TestApp) {
  const client = await app.db.primary.connect()
  const read = async () =>
    (
      await client.query(
        'SELECT product_id, currency, min_cents, max_cents, status, category_id FROM product_prices ORDER BY 1, 2'
      )
    ).rows
  try {
    const stored = await read()
    await client.query('BEGIN')
    await client.query('SELECT refresh_product_prices(ARRAY(SELECT id FROM products))')
    const built = await read()
    await client.query('ROLLBACK')
    return { stored, built }
  } finally {
    client.release()
  }
}
