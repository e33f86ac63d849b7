import type pg from 'pg'
import type { ConnectionTarget } from '../../src/db/pool.js'
import { createCursorCodec } from '../../src/lib/cursor.js'
import type { RecordedResponse } from './ceiling.js'
import type { HttpRequest, RequestSource } from './load.js'
import type { ScenarioName } from './options.js'
import type { SeedDesign } from './seed-design.js'

export interface ScenarioContext {
  baseUrl: string
  /** The bench's database, for the driver floor. */
  target: ConnectionTarget
  /** The server with the Redis cache and rate limiting on (cached-* scenarios). */
  cachedUrl?: string
  client: pg.Client
  /** Demo products asked for with --products. */
  products: number
  cursorSecret: string
  apiKey: string
  /** Every product the run creates has a sku starting with this (removed at exit). */
  skuPrefix: string
  /** The seed's own design, when --seed-design was given: scenarios with `versusSeed` are measured against it. */
  seedDesign?: SeedDesign
}

export interface Scenario {
  /** Where this scenario's load goes, when not ctx.baseUrl. */
  baseUrl?: string
  /** The request as a reader would write it, e.g. `GET /api/v1/products?limit=20`. */
  description: string
  expectStatus: number
  source: RequestSource
  /** What the ceilings are sent, when it must differ from `source` (a source that tracks the API's state). */
  ceilingSource?: RequestSource
  /** Extra acceptance of a probe's JSON answer: a problem, or undefined when fine. */
  check?: (body: unknown) => string | undefined
  details?: Record<string, unknown>
  /** The seed design's request for the same thing, measured in the same rounds (when it runs). */
  versusSeed?: (seed: SeedDesign) => RequestSource
  /** Measured against the driver floor too (scripts/bench/floor.ts: the same query on bare node:http). */
  versusFloor?: boolean
  /** Run before each of the API's runs (warm-up and rounds), outside the measured time. */
  beforeApiRun?: () => Promise<void>
}

const PAGE_SIZE = 20
const get = (path: string): HttpRequest => ({ method: 'GET', path })
const describe = (request: HttpRequest) => `${request.method} ${request.path}`

const itemsOf = (body: unknown): unknown[] | undefined => {
  const data = (body as { data?: unknown } | null)?.data
  return Array.isArray(data) ? data : undefined
}

const pageOf = (size: number) => (body: unknown) => {
  const items = itemsOf(body)
  if (!items) return 'the answer has no data array'
  return items.length === size ? undefined : `expected ${size} items, got ${items.length}`
}

const nonEmptyPage = (body: unknown) => (itemsOf(body)?.length ? undefined : 'the page is empty')

async function firstPage(): Promise<Scenario> {
  const request = get(`/api/v1/products?limit=${PAGE_SIZE}`)
  return {
    description: describe(request),
    expectStatus: 200,
    source: request,
    check: nonEmptyPage,
    versusSeed: (seed) => seed.firstPage,
    versusFloor: true
  }
}

async function productById({ client }: ScenarioContext): Promise<Scenario> {
  // Anonymous readers see active products only (a draft is 404 to them).
  const { rows } = await client.query<{ ids: string | null }>(
    "SELECT string_agg(id::text, ',') AS ids FROM products WHERE status = 'active'"
  )
  const ids = Int32Array.from((rows[0]?.ids ?? '').split(',').filter(Boolean), Number)
  if (!ids.length) throw new Error('the catalog has no products')
  const randomId = () => ids[Math.floor(Math.random() * ids.length)]
  return {
    description: 'GET /api/v1/products/<random existing id>',
    expectStatus: 200,
    source: () => get(`/api/v1/products/${randomId()}`),
    details: { distinctIds: ids.length },
    versusSeed: (seed) => seed.byId
  }
}

async function filteredSorted({ client }: ScenarioContext): Promise<Scenario> {
  // The first leaf category (no subcategories) holding active products.
  const { rows } = await client.query<{ id: number }>(
    `SELECT c.id FROM categories c
     WHERE NOT EXISTS (SELECT 1 FROM categories sub WHERE sub.parent_id = c.id)
       AND EXISTS (SELECT 1 FROM products p WHERE p.category_id = c.id AND p.status = 'active')
     ORDER BY c.id LIMIT 1`
  )
  const categoryId = rows[0]?.id
  if (categoryId === undefined) throw new Error('no leaf category holds active products')
  const request = get(`/api/v1/products?categoryId=${categoryId}&status=active&sort=price&limit=${PAGE_SIZE}`)
  return {
    description: describe(request),
    expectStatus: 200,
    source: request,
    check: nonEmptyPage,
    details: { categoryId }
  }
}

async function deepPage({ client, products, cursorSecret }: ScenarioContext): Promise<Scenario> {
  const page = Math.min(5000, Math.floor(products / PAGE_SIZE / 2))
  if (page < 2) {
    const request = get(`/api/v1/products?limit=${PAGE_SIZE}`)
    return { description: `${describe(request)} (page 1)`, expectStatus: 200, source: request, details: { page: 1 } }
  }
  // The cursor the API would have put in page (page-1)'s Link header: the key of that page's last row.
  const { rows } = await client.query<{ created_at: Date; id: number }>(
    "SELECT created_at, id FROM products WHERE status = 'active' ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1",
    [(page - 1) * PAGE_SIZE - 1]
  )
  const last = rows[0]
  if (!last) throw new Error(`the catalog has fewer than ${(page - 1) * PAGE_SIZE} products`)
  const cursor = createCursorCodec(cursorSecret, 'catalog-api').encode('products:newest', [
    last.created_at.toISOString(),
    last.id
  ])
  const request = get(`/api/v1/products?limit=${PAGE_SIZE}&cursor=${encodeURIComponent(cursor)}`)
  return {
    description: `GET /api/v1/products?limit=${PAGE_SIZE}&cursor=<page ${page} of newest>`,
    expectStatus: 200,
    source: request,
    check: pageOf(PAGE_SIZE),
    details: { page, path: request.path }
  }
}

/** A page sorted by the lowest variant price in a currency other than the default, through product_prices. */
async function pricePage({ client, products, cursorSecret }: ScenarioContext): Promise<Scenario> {
  const page = Math.min(5000, Math.floor(products / PAGE_SIZE / 2))
  const first = get(`/api/v1/products?sort=price&currency=EUR&limit=${PAGE_SIZE}`)
  if (page < 2) return { description: describe(first), expectStatus: 200, source: first, check: pageOf(PAGE_SIZE) }
  const { rows } = await client.query<{ min_cents: number; product_id: number }>(
    `SELECT min_cents, product_id FROM product_prices WHERE currency = 'EUR' AND status = 'active'
      ORDER BY min_cents, product_id OFFSET $1 LIMIT 1`,
    [(page - 1) * PAGE_SIZE - 1]
  )
  const last = rows[0]
  if (!last) throw new Error(`fewer than ${(page - 1) * PAGE_SIZE} active products are priced in EUR`)
  const cursor = createCursorCodec(cursorSecret, 'catalog-api').encode('products:price:EUR', [
    last.min_cents,
    last.product_id
  ])
  const request = get(`${first.path}&cursor=${encodeURIComponent(cursor)}`)
  return {
    description: `GET /api/v1/products?sort=price&currency=EUR&limit=${PAGE_SIZE}&cursor=<page ${page} by EUR price>`,
    expectStatus: 200,
    source: request,
    check: pageOf(PAGE_SIZE),
    details: { page, path: request.path }
  }
}

async function createProduct({ apiKey, skuPrefix }: ScenarioContext): Promise<Scenario> {
  let counter = 0
  const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }
  return {
    description: `POST /api/v1/products {sku: ${skuPrefix}<n>, name, priceCents, currency}`,
    expectStatus: 201,
    source: () => {
      counter += 1
      const body = {
        sku: `${skuPrefix}${counter}`,
        name: `Bench product ${counter}`,
        priceCents: 100 + (counter % 100_000),
        currency: 'USD'
      }
      return { method: 'POST', path: '/api/v1/products', headers, body: JSON.stringify(body) }
    },
    versusSeed: (seed) => seed.create
  }
}

// Products the patch scenario cycles through: enough that a product's previous PATCH has long been answered
// when its next one is sent, so every If-Match names the current version.
const PATCHED_PRODUCTS = 2000

async function patchProduct({ apiKey, skuPrefix, client }: ScenarioContext): Promise<Scenario> {
  // Products of one variant each; the scenario changes the variant's price and stock (the price table follows).
  const { rows } = await client.query<{ id: number; product_id: number; version: number }>(
    `WITH p AS (
       INSERT INTO products (name, slug)
       SELECT 'Patched ' || g, lower($1) || g FROM generate_series(1, $2) g
       RETURNING id, slug
     )
     INSERT INTO product_variants (product_id, sku, title, prices)
     SELECT id, $1 || right(slug, -length($1)), 'Default', '[{"currency": "USD", "amountCents": 100}]' FROM p
     RETURNING id, product_id, version`,
    [`${skuPrefix}P-`, PATCHED_PRODUCTS]
  )
  const ids = rows.map((r) => r.id)
  const productOf = new Map(rows.map((r) => [r.id, r.product_id]))
  /** Round robin over the products, each If-Match naming the version the previous PATCH of it left. */
  const patches = (versions: Map<number, number>) => {
    let counter = 0
    return (): HttpRequest => {
      counter += 1
      const id = ids[counter % ids.length] as number
      const version = versions.get(id) as number
      // The answer raises the version by one; the next PATCH of this id comes PATCHED_PRODUCTS requests later.
      versions.set(id, version + 1)
      return {
        method: 'PATCH',
        path: `/api/v1/products/${productOf.get(id)}/variants/${id}`,
        headers: {
          authorization: `Bearer ${apiKey}`,
          'content-type': 'application/json',
          'if-match': `"${id}.${version}"`
        },
        body: JSON.stringify({
          prices: [{ currency: 'USD', amountCents: 100 + (counter % 100_000) }],
          stock: counter % 1000
        })
      }
    }
  }
  const versions = new Map(rows.map((r) => [r.id, r.version]))
  return {
    description:
      'PATCH /api/v1/products/<id>/variants/<variantId> {prices, stock} with If-Match: "<variantId>.<current version>"',
    expectStatus: 200,
    source: patches(versions),
    // A run stops with requests prepared (their versions counted) but never sent: each API run starts from the
    // versions the database holds, read after the other servers' runs, when the API's last writes have long committed.
    async beforeApiRun() {
      const { rows: current } = await client.query<{ id: number; version: number }>(
        'SELECT id, version FROM product_variants WHERE id = ANY($1::integer[])',
        [ids]
      )
      for (const r of current) versions.set(r.id, r.version)
    },
    // The ceilings answer without changing anything: their requests must not advance the API's versions.
    ceilingSource: patches(new Map(rows.map((r) => [r.id, r.version]))),
    details: { products: ids.length },
    versusSeed: (seed) => seed.create
  }
}

/** Requests every path once (a few at a time), so the measured run sees only cache hits. */
async function warm(baseUrl: string, paths: string[]): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < paths.length) {
      const res = await fetch(baseUrl + paths[next++], { signal: AbortSignal.timeout(10_000) })
      await res.arrayBuffer()
      if (res.status !== 200) throw new Error(`warming ${paths[next - 1]} answered ${res.status}`)
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker))
}

function cachedUrlOf(ctx: ScenarioContext): string {
  if (!ctx.cachedUrl) throw new Error('no cached server was started')
  return ctx.cachedUrl
}

async function cachedFirstPage(ctx: ScenarioContext): Promise<Scenario> {
  // The seed design runs without its cache: no comparison of a cache hit with its database read.
  const { versusSeed: _uncached, ...scenario } = await firstPage()
  await warm(
    cachedUrlOf(ctx),
    [scenario.source as HttpRequest].map((r) => r.path)
  )
  return {
    ...scenario,
    baseUrl: cachedUrlOf(ctx),
    description: `${scenario.description} (Redis cache hit, rate limit via Redis)`
  }
}

// The hot set a cache holds in practice: the newest products, at most this many, all warmed before measuring.
const HOT_PRODUCTS = 10_000

async function cachedProductById(ctx: ScenarioContext): Promise<Scenario> {
  const { rows } = await ctx.client.query<{ id: number }>(
    "SELECT id FROM products WHERE status = 'active' ORDER BY created_at DESC, id DESC LIMIT $1",
    [HOT_PRODUCTS]
  )
  const ids = rows.map((r) => r.id)
  if (!ids.length) throw new Error('the catalog has no products')
  await warm(
    cachedUrlOf(ctx),
    ids.map((id) => `/api/v1/products/${id}`)
  )
  return {
    description: `GET /api/v1/products/<random id of the ${ids.length} newest, all warmed: Redis cache hits, rate limit via Redis>`,
    expectStatus: 200,
    baseUrl: cachedUrlOf(ctx),
    source: () => get(`/api/v1/products/${ids[Math.floor(Math.random() * ids.length)]}`),
    details: { distinctIds: ids.length }
  }
}

/** The load scenarios (the change-event ones are in events.ts). */
export const SCENARIOS: Record<
  Exclude<ScenarioName, 'webhook-deliveries' | 'write-with-events' | 'feed-latency'>,
  (ctx: ScenarioContext) => Promise<Scenario>
> = {
  'first-page': firstPage,
  'product-by-id': productById,
  'filtered-sorted': filteredSorted,
  'deep-page': deepPage,
  'price-page': pricePage,
  'cached-first-page': cachedFirstPage,
  'cached-product-by-id': cachedProductById,
  'create-product': createProduct,
  'patch-product': patchProduct
}

/**
 * Sends a few of the scenario's requests and checks the answers; returns the mean body size, which the
 * ceiling server then answers with.
 */
/** Headers node:http writes by itself, so the exact ceiling does not replay them. */
const OWN_HEADERS = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding', 'content-length'])

/** Checks the scenario's answer a few times; the average body size and the last answer as recorded. */
export async function probe(
  baseUrl: string,
  scenario: Scenario,
  times = 5
): Promise<{ bytes: number; recorded: RecordedResponse }> {
  let bytes = 0
  let recorded: RecordedResponse | undefined
  for (let i = 0; i < times; i++) {
    const request = typeof scenario.source === 'function' ? scenario.source() : scenario.source
    const res = await fetch(baseUrl + request.path, {
      method: request.method,
      // As autocannon sends no Accept-Encoding, the probe asks for the same uncompressed body.
      headers: { 'accept-encoding': 'identity', ...request.headers },
      body: request.body,
      signal: AbortSignal.timeout(10_000)
    })
    const body = Buffer.from(await res.arrayBuffer())
    const text = body.toString('utf8')
    if (res.status !== scenario.expectStatus) {
      throw new Error(
        `${describe(request)} answered ${res.status}, expected ${scenario.expectStatus}: ${text.slice(0, 300)}`
      )
    }
    const problem = scenario.check?.(JSON.parse(text))
    if (problem) throw new Error(`${describe(request)}: ${problem}`)
    bytes += body.length
    recorded = { status: res.status, headers: [...res.headers].filter(([name]) => !OWN_HEADERS.has(name)), body }
  }
  return { bytes: Math.round(bytes / times), recorded: recorded as RecordedResponse }
}
