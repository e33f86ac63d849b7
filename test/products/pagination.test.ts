import assert from 'node:assert/strict'
import { type TestContext, test } from 'node:test'
import type { LightMyRequestResponse } from 'fastify'
import type { Queryable } from '../../src/db/pool.js'
import { listProducts, type ProductRow, productCursorKey } from '../../src/modules/products/repository.js'
import type { Product, ProductSort } from '../../src/modules/products/schemas.js'
import { apiKey, bearer, build, count, seed, type TestApp } from '../helper.js'

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

const PRODUCTS = 500
const SORTS: ProductSort[] = ['newest', 'price', '-price', 'name']

/** The ORDER BY each sort promises, written out independently of src/ as the oracle. */
const ORDER_SQL: Record<ProductSort, string> = {
  newest: 'created_at DESC, id DESC',
  price: 'price_cents ASC, id ASC',
  '-price': 'price_cents DESC, id DESC',
  name: 'name ASC, id ASC'
}

type Params = Record<string, string | number | boolean>

interface PageBody {
  success: true
  data: Product[]
  pagination: { cursor: string | null; hasMore: boolean }
}

interface Problem {
  success: false
  status: number
  code: string
  detail: string
  errors?: { field: string; message: string }[]
}

const query = (params: Params) => new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)])).toString()
const listUrl = (params: Params) => `/api/v1/products?${query(params)}`
const ids = (items: { id: number }[]) => items.map((p) => p.id)

/** The seeded demo catalog plus rows that tie on every sort key, so page boundaries fall inside groups of equal keys. */
async function catalog(t: TestContext, products = PRODUCTS): Promise<TestApp> {
  const app = await build(t)
  await seed(app, products)
  // 24 extra rows: created_at shared in two groups (one with milliseconds), price shared in three groups (one
  // equal to a seeded product's price), name shared in two groups (one equal to a seeded product's name).
  await app.db.primary.query(`
    WITH tie AS (
      INSERT INTO products (name, slug, description, category_id, status, created_at, updated_at)
      SELECT CASE WHEN g % 2 = 0 THEN 'Twin Lamp' ELSE 'Modern Steel Lamp 1' END,
             'tie-' || g,
             'A twin',
             NULL, 'active',
             CASE WHEN g % 2 = 0 THEN timestamptz '2025-01-01T00:03:00Z' ELSE timestamptz '2025-01-01T00:02:30.123Z' END,
             now()
      FROM generate_series(1, 24) AS g
      RETURNING id, slug
    )
    INSERT INTO product_variants (product_id, sku, title, prices, stock)
    SELECT id, 'TIE-' || g, 'Default',
           jsonb_build_array(jsonb_build_object('currency', 'USD',
             'amountCents', CASE g % 3 WHEN 0 THEN 5000 WHEN 1 THEN 100 + 7919 ELSE 42 END)), 1
    FROM tie CROSS JOIN LATERAL (SELECT substring(slug FROM 5)::integer AS g) n`)
  await app.db.primary.query('ANALYZE products, product_variants, product_prices')
  return app
}

/**
 * The products as the oracle sees them: price_cents is the lowest variant price in USD (the default currency), and a
 * price sort or filter leaves out products without one.
 */
const PRICED = `(SELECT p.*, pp.min_cents AS price_cents FROM products p
                  LEFT JOIN product_prices pp ON pp.product_id = p.id AND pp.currency = 'USD') products`

/** A product's price as the lists sort it: its lowest variant price in USD. */
const priceOf = (p: Product) => p.priceRange.USD?.min ?? -1

/** The lists below are read with an admin key: it sees every status, as the oracle's queries do. */
const staff = new WeakMap<TestApp, Record<string, string>>()
async function get(app: TestApp, url: string) {
  let headers = staff.get(app)
  if (!headers) {
    headers = bearer(await apiKey(app, 'admin'))
    staff.set(app, headers)
  }
  return app.inject({ method: 'GET', url, headers })
}

async function sqlIds(app: TestApp, sort: ProductSort, where = 'TRUE', values: unknown[] = []): Promise<number[]> {
  const priced = sort.endsWith('price') || /price_cents/.test(where)
  const { rows } = await app.db.primary.query<{ id: number }>(
    `SELECT id FROM ${PRICED} WHERE ${where}${priced ? ' AND price_cents IS NOT NULL' : ''} ORDER BY ${ORDER_SQL[sort]}`,
    values
  )
  return rows.map((r) => r.id)
}

async function categoryId(app: TestApp, slug: string): Promise<number> {
  const { rows } = await app.db.primary.query<{ id: number }>('SELECT id FROM categories WHERE slug = $1', [slug])
  assert.ok(rows[0], `category ${slug} exists`)
  return rows[0].id
}

function assertProblem(res: LightMyRequestResponse, code: string, field: string): Problem {
  assert.equal(res.statusCode, 400, res.body)
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/)
  const body = res.json<Problem>()
  assert.equal(body.success, false)
  assert.equal(body.status, 400)
  assert.equal(body.code, code, body.detail)
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, 'errors lists the offending field')
  assert.equal(body.errors[0]?.field, field)
  return body
}

/** Checks the items are in the promised order, comparing keys in JS (name ties only: collation is the database's). */
function assertOrdered(items: Product[], sort: ProductSort) {
  for (let i = 1; i < items.length; i++) {
    const a = items[i - 1] as Product
    const b = items[i] as Product
    const where = `at position ${i}: ${a.id} then ${b.id}`
    if (sort === 'newest') {
      assert.ok(
        a.createdAt > b.createdAt || (a.createdAt === b.createdAt && a.id > b.id),
        `newest order broken ${where}`
      )
    } else if (sort === 'price') {
      assert.ok(priceOf(a) < priceOf(b) || (priceOf(a) === priceOf(b) && a.id < b.id), `price order broken ${where}`)
    } else if (sort === '-price') {
      assert.ok(priceOf(a) > priceOf(b) || (priceOf(a) === priceOf(b) && a.id > b.id), `-price order broken ${where}`)
    } else if (a.name === b.name) {
      assert.ok(a.id < b.id, `name tie order broken ${where}`)
    }
  }
}

interface WalkOptions {
  /** Follow `pagination.cursor` (default) or the `Link` header's URL. */
  follow?: 'cursor' | 'link'
  /** With follow=cursor: the limit of page n is limits[n % limits.length] instead of params.limit. */
  limits?: number[]
  /** Runs after page n was read and before page n+1 is requested. */
  between?: (page: PageBody, n: number) => Promise<void>
  maxPages?: number
}

/** Walks every page of a listing, checking the envelope, hasMore, cursor and Link header of each page. */
async function walk(
  app: TestApp,
  params: Params,
  opts: WalkOptions = {}
): Promise<{ pages: Product[][]; items: Product[] }> {
  const pages: Product[][] = []
  const limitOf = (n: number) =>
    opts.limits ? (opts.limits[n % opts.limits.length] as number) : Number(params.limit ?? 20)
  let url = listUrl(opts.limits ? { ...params, limit: limitOf(0) } : params)
  const maxPages = opts.maxPages ?? 1000
  for (let n = 0; ; n++) {
    assert.ok(n < maxPages, `the walk did not end within ${maxPages} pages`)
    const res = await get(app, url)
    assert.equal(res.statusCode, 200, `${url.length > 300 ? `${url.slice(0, 300)}…` : url} → ${res.body}`)
    const body = res.json<PageBody>()
    assert.equal(body.success, true)
    const limit = limitOf(n)
    pages.push(body.data)
    const link = res.headers.link
    if (body.pagination.cursor === null) {
      assert.equal(body.pagination.hasMore, false)
      assert.equal(link, undefined, 'no Link header on the last page')
      assert.ok(body.data.length <= limit)
      assert.ok(body.data.length > 0 || n === 0, 'the walk never ends on an empty page')
      break
    }
    assert.equal(body.pagination.hasMore, true)
    assert.equal(body.data.length, limit, `page ${n} before the last one is full`)
    assert.equal(typeof link, 'string', 'a Link header when there is a next page')
    await opts.between?.(body, n)
    if (opts.follow === 'link') {
      const match = /^<([^>]+)>; rel="next"$/.exec(link as string)
      assert.ok(match, `Link header is <url>; rel="next": ${String(link)}`)
      const next = match[1] as string
      const parsed = new URL(next, 'http://localhost')
      assert.equal(parsed.pathname, '/api/v1/products')
      assert.deepEqual(
        parsed.searchParams.getAll('cursor'),
        [body.pagination.cursor],
        'the Link carries exactly the next cursor'
      )
      const current = new URL(url, 'http://localhost').searchParams
      for (const key of new Set([...current.keys(), ...parsed.searchParams.keys()])) {
        if (key !== 'cursor')
          assert.deepEqual(parsed.searchParams.getAll(key), current.getAll(key), `the Link keeps ${key}`)
      }
      url = next
    } else {
      url = listUrl({ ...params, limit: limitOf(n + 1), cursor: body.pagination.cursor })
    }
  }
  return { pages, items: pages.flat() }
}

function assertNoDuplicates(items: { id: number }[]) {
  const seen = new Set<number>()
  for (const { id } of items) {
    assert.ok(!seen.has(id), `product ${id} was returned twice`)
    seen.add(id)
  }
}

/** A cursor for page 2 of `params`. */
async function cursorOf(app: TestApp, params: Params): Promise<string> {
  const res = await get(app, listUrl(params))
  assert.equal(res.statusCode, 200, res.body)
  const cursor = res.json<PageBody>().pagination.cursor
  assert.ok(cursor, 'the first page has a cursor')
  return cursor
}

// ---------------------------------------------------------------------------------------------------------------
// Walking every page
// ---------------------------------------------------------------------------------------------------------------

for (const sort of SORTS) {
  test(`when every page is walked in ${sort} order, then each product appears once, in that order`, async (t) => {
    const app = await catalog(t)
    const total = await count(app, 'products')
    assert.equal(total, PRODUCTS + 24)
    const expected = await sqlIds(app, sort)

    for (const limit of [7, 13]) {
      const { pages, items } = await walk(app, { sort, limit })
      assert.equal(pages.length, Math.ceil(total / limit), `limit ${limit}: page count`)
      assert.equal(items.length, total, `limit ${limit}: every product is listed`)
      assertNoDuplicates(items)
      assert.deepEqual(
        ids(items),
        expected,
        `limit ${limit}: the concatenated pages follow ORDER BY ${ORDER_SQL[sort]}`
      )
      assertOrdered(items, sort)
    }

    // A cursor is a position, not a page number: changing the limit from page to page still yields the same sequence.
    const mixed = await walk(app, { sort }, { limits: [7, 13, 1, 100] })
    assert.deepEqual(ids(mixed.items), expected, 'alternating limits 7, 13, 1, 100')
  })
}

test('when the rows fill the last page exactly, then that page has no cursor and no empty page follows', async (t) => {
  const app = await build(t)
  await seed(app, 49)
  const expected = await sqlIds(app, 'newest')

  const exact = await walk(app, { limit: 7 })
  assert.deepEqual(
    exact.pages.map((p) => p.length),
    [7, 7, 7, 7, 7, 7, 7]
  )
  assert.deepEqual(ids(exact.items), expected)

  const single = await walk(app, { limit: 49 })
  assert.equal(single.pages.length, 1, 'all 49 rows on one page of 49: no cursor')

  const twoPages = await walk(app, { limit: 48 })
  assert.deepEqual(
    twoPages.pages.map((p) => p.length),
    [48, 1]
  )
})

test('when a page ends on a product with a long non-ASCII name, then its name-sort cursor is accepted and the walk goes on', async (t) => {
  // Names may hold 200 characters; in the name sort the cursor carries the name, so it must fit what `cursor` accepts.
  const app = await catalog(t, 20)
  const key = await apiKey(app, 'editor')
  const { rows } = await app.db.primary.query<{ id: number }>(
    `INSERT INTO categories (name, slug) VALUES ('Lamps JP', 'lamps-jp') RETURNING id`
  )
  const category = (rows[0] as { id: number }).id
  const names = ['照明器具', 'ランプ', 'Café crème "déluxe" ']
  for (const [i, stem] of names.entries()) {
    const name = `${stem.repeat(200)}`.slice(0, 195) + ` ${i}`
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/products',
      headers: bearer(key),
      payload: { sku: `LONG-${i}`, name, priceCents: 1000 + i, currency: 'JPY', categoryId: category, status: 'active' }
    })
    assert.equal(res.statusCode, 201, res.body)
  }
  const expected = await sqlIds(app, 'name', 'category_id = $1', [category])
  assert.equal(expected.length, names.length)
  const { items } = await walk(app, { categoryId: category, sort: 'name', limit: 1 })
  assert.deepEqual(ids(items), expected)
})

test('when no limit is given, then pages hold 20 products; limit=1 and limit=100 are accepted', async (t) => {
  const app = await catalog(t, 150)
  for (const [limit, size] of [
    [undefined, 20],
    [1, 1],
    [100, 100]
  ] as const) {
    const res = await get(app, listUrl(limit === undefined ? {} : { limit }))
    assert.equal(res.statusCode, 200, res.body)
    const body = res.json<PageBody>()
    assert.equal(body.data.length, size, `limit ${limit}`)
    assert.equal(body.pagination.hasMore, true)
  }
})

// ---------------------------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------------------------

test('when filtered by a leaf category, then every page holds only its products and the walk finds all of them', async (t) => {
  const app = await catalog(t)
  const leaf = await categoryId(app, 'home-lighting')
  const expected = await sqlIds(app, 'price', 'category_id = $1', [leaf])
  assert.ok(expected.length > 6, 'the leaf has products on several pages')

  for (const sort of ['price', 'newest'] as const) {
    const { pages, items } = await walk(app, { categoryId: leaf, sort, limit: 3 })
    assert.ok(pages.length > 2)
    assert.ok(
      items.every((p) => p.categoryId === leaf),
      'every item is in the category'
    )
    assertNoDuplicates(items)
    assert.deepEqual(ids(items), await sqlIds(app, sort, 'category_id = $1', [leaf]))
  }
})

test('when a root category is listed with includeDescendants=true, then products of the root and of every subcategory below it are listed', async (t) => {
  const app = await catalog(t)
  const home = await categoryId(app, 'home')
  const lighting = await categoryId(app, 'home-lighting')
  // A third level: a subcategory of Home › Lighting, holding products moved there from Garden › Tools.
  const { rows } = await app.db.primary.query<{ id: number }>(
    `INSERT INTO categories (name, slug, parent_id) VALUES ('Desk Lamps', 'home-lighting-desk-lamps', $1) RETURNING id`,
    [lighting]
  )
  const grandchild = (rows[0] as { id: number }).id
  const moved = await app.db.primary.query<{ id: number }>(
    `UPDATE products SET category_id = $1
      WHERE id IN (SELECT id FROM products WHERE category_id = $2 ORDER BY id LIMIT 4) RETURNING id`,
    [grandchild, await categoryId(app, 'garden-tools')]
  )
  assert.equal(moved.rowCount, 4)

  // Oracle by slug: the Home tree is 'home' and every slug under the 'home-' prefix.
  const inHomeTree = `category_id IN (SELECT id FROM categories WHERE slug = 'home' OR slug LIKE 'home-%')`
  const expected = await sqlIds(app, 'name', inHomeTree)
  const childrenOnly = await sqlIds(app, 'name', 'category_id IN (SELECT id FROM categories WHERE parent_id = $1)', [
    home
  ])
  assert.ok(expected.length > childrenOnly.length && childrenOnly.length > 0)

  const { items } = await walk(app, { categoryId: home, includeDescendants: true, sort: 'name', limit: 7 })
  assertNoDuplicates(items)
  assert.deepEqual(ids(items), expected)
  const categories = new Set(items.map((p) => p.categoryId))
  assert.equal(categories.size, 6, 'the root, its 4 children and the grandchild all contribute products')
  assert.ok(categories.has(home) && categories.has(grandchild))
  for (const id of ids(moved.rows)) assert.ok(ids(items).includes(id), `product ${id} in the grandchild is listed`)
})

test('when a root category is listed without includeDescendants, then only the products directly in it are listed', async (t) => {
  const app = await catalog(t)
  const home = await categoryId(app, 'home')
  for (const extra of [{}, { includeDescendants: false }] as Params[]) {
    const { items } = await walk(app, { categoryId: home, limit: 3, ...extra })
    assert.ok(items.length > 0)
    assert.ok(items.every((p) => p.categoryId === home))
    assert.deepEqual(ids(items), await sqlIds(app, 'newest', 'category_id = $1', [home]))
  }
})

test('when a category with no products is listed, then the single page is empty and has no cursor', async (t) => {
  const app = await catalog(t, 50)
  const { rows } = await app.db.primary.query<{ id: number }>(
    `INSERT INTO categories (name, slug) VALUES ('Empty', 'empty') RETURNING id`
  )
  const empty = (rows[0] as { id: number }).id
  for (const extra of [{}, { includeDescendants: true }] as Params[]) {
    const { pages } = await walk(app, { categoryId: empty, limit: 7, ...extra })
    assert.deepEqual(pages, [[]])
  }
})

for (const status of ['draft', 'active', 'archived'] as const) {
  test(`when filtered by status=${status}, then every listed product is ${status} and none is missing`, async (t) => {
    const app = await catalog(t)
    const expected = await sqlIds(app, '-price', 'status = $1', [status])
    assert.ok(expected.length > 13)
    const { items } = await walk(app, { status, sort: '-price', limit: 13 })
    assert.ok(
      items.every((p) => p.status === status),
      `every item is ${status}`
    )
    assertNoDuplicates(items)
    assert.deepEqual(ids(items), expected)
  })
}

test('when filtered by minPrice and maxPrice, then both bounds are inclusive and every product in range is listed', async (t) => {
  const app = await catalog(t)
  const byPrice = await app.db.primary.query<{ price_cents: number }>(
    `SELECT price_cents FROM ${PRICED} WHERE price_cents IS NOT NULL ORDER BY price_cents, id`
  )
  const lo = (byPrice.rows[100] as { price_cents: number }).price_cents
  const hi = (byPrice.rows[250] as { price_cents: number }).price_cents
  assert.ok(lo < hi)

  const inRange = await walk(app, { minPrice: lo, maxPrice: hi, sort: 'price', limit: 13 })
  assert.deepEqual(ids(inRange.items), await sqlIds(app, 'price', 'price_cents BETWEEN $1 AND $2', [lo, hi]))
  assert.ok(inRange.items.every((p) => priceOf(p) >= lo && priceOf(p) <= hi))
  assert.equal(inRange.items[0] && priceOf(inRange.items[0]), lo, 'a product priced exactly minPrice is included')
  assert.equal(
    inRange.items.at(-1) && priceOf(inRange.items.at(-1) as Product),
    hi,
    'a product priced exactly maxPrice is included'
  )

  const minOnly = await walk(app, { minPrice: lo, sort: '-price', limit: 13 })
  assert.deepEqual(ids(minOnly.items), await sqlIds(app, '-price', 'price_cents >= $1', [lo]))

  const maxOnly = await walk(app, { maxPrice: hi, limit: 13 })
  assert.deepEqual(ids(maxOnly.items), await sqlIds(app, 'newest', 'price_cents <= $1', [hi]))

  // minPrice = maxPrice: exactly the products at that price (the tie group at 5000 cents).
  const exact = await walk(app, { minPrice: 5000, maxPrice: 5000, sort: 'price', limit: 3 })
  assert.deepEqual(ids(exact.items), await sqlIds(app, 'price', 'price_cents = 5000'))
  assert.ok(exact.items.length >= 8)
})

test('when searched with q=lamp, then every product mentions a lamp and every such product is listed', async (t) => {
  const app = await catalog(t)
  // Oracle without full-text search: in the demo catalog "lamp" only ever occurs as the word Lamp.
  const expected = await sqlIds(app, 'name', `name ILIKE '%lamp%' OR description ILIKE '%lamp%'`)
  assert.ok(expected.length > 26 && expected.length < (await count(app, 'products')))

  const { items } = await walk(app, { q: 'lamp', sort: 'name', limit: 13 })
  assert.ok(items.every((p) => `${p.name} ${p.description}`.toLowerCase().includes('lamp')))
  assertNoDuplicates(items)
  assert.deepEqual(ids(items), expected)

  // Case does not matter, and the full-text match works with the other sorts too.
  const upper = await walk(app, { q: 'LAMP', sort: 'price', limit: 7 })
  assert.deepEqual(ids(upper.items), await sqlIds(app, 'price', `name ILIKE '%lamp%' OR description ILIKE '%lamp%'`))
})

test('when searched with websearch syntax (phrase, exclusion, or), then the matches are those the syntax describes', async (t) => {
  const app = await catalog(t)
  const mentions = (word: string) => `(name ILIKE '%${word}%' OR description ILIKE '%${word}%')`
  const cases: [string, string, (p: Product) => boolean][] = [
    ['"oak lamp"', mentions('oak lamp'), (p) => `${p.name} ${p.description}`.toLowerCase().includes('oak lamp')],
    [
      'lamp -oak',
      `${mentions('lamp')} AND NOT ${mentions('oak')}`,
      (p) => !`${p.name} ${p.description}`.toLowerCase().includes('oak')
    ],
    [
      'kettle or speaker',
      `${mentions('kettle')} OR ${mentions('speaker')}`,
      (p) => /kettle|speaker/i.test(`${p.name} ${p.description}`)
    ]
  ]
  for (const [q, where, holds] of cases) {
    const expected = await sqlIds(app, 'newest', where)
    assert.ok(expected.length > 7, `${q} matches several pages`)
    const { items } = await walk(app, { q, limit: 7 })
    assert.ok(items.every(holds), `every item satisfies ${q}`)
    assertNoDuplicates(items)
    assert.deepEqual(ids(items), expected, `q=${q}`)
  }
})

test('when category tree, status and price filters are combined with a descending sort, then only products meeting all of them are listed', async (t) => {
  const app = await catalog(t)
  const home = await categoryId(app, 'home')
  const where = `category_id IN (SELECT id FROM categories WHERE slug = 'home' OR slug LIKE 'home-%')
                 AND status = 'active' AND price_cents BETWEEN 20000 AND 80000`
  const expected = await sqlIds(app, '-price', where)
  assert.ok(expected.length > 6)
  const { items } = await walk(app, {
    categoryId: home,
    includeDescendants: true,
    status: 'active',
    minPrice: 20000,
    maxPrice: 80000,
    sort: '-price',
    limit: 3
  })
  assert.ok(items.every((p) => p.status === 'active' && priceOf(p) >= 20000 && priceOf(p) <= 80000))
  assert.deepEqual(ids(items), expected)
})

// ---------------------------------------------------------------------------------------------------------------
// Concurrent inserts
// ---------------------------------------------------------------------------------------------------------------

test('when products are created between page requests of a newest walk, then every pre-existing product is still listed exactly once', async (t) => {
  const app = await catalog(t, 300)
  const key = await apiKey(app, 'editor')
  const before = await sqlIds(app, 'newest')
  const created: number[] = []
  const prices = [0, 150, 25_000, 50_000, 75_000, 99_999]

  const { items } = await walk(
    app,
    { sort: 'newest', limit: 13 },
    {
      between: async (_page, n) => {
        for (let j = 0; j < 3; j++) {
          const res = await app.inject({
            method: 'POST',
            url: '/api/v1/products',
            headers: bearer(key),
            payload: {
              sku: `LIVE-${n}-${j}`,
              name: `Live Kettle ${n} ${j}`,
              priceCents: prices[(n * 3 + j) % prices.length],
              currency: 'USD',
              status: 'active'
            }
          })
          assert.equal(res.statusCode, 201, res.body)
          created.push(res.json<{ data: Product }>().data.id)
        }
      }
    }
  )
  assert.ok(created.length > 40, 'products were created throughout the walk')
  assertNoDuplicates(items)
  const preExisting = new Set(before)
  assert.deepEqual(
    ids(items).filter((id) => preExisting.has(id)),
    before,
    'every pre-existing product, once, in order, with no gap'
  )
  // New products are newer than the first page, so a newest walk that started earlier never reaches them.
  assert.deepEqual(
    ids(items).filter((id) => created.includes(id)),
    []
  )
  assert.equal(items.length, before.length)
  assertOrdered(items, 'newest')
})

test('when products are created between page requests of a price walk, then pre-existing products appear once and new ones appear exactly when priced at or after the cursor', async (t) => {
  const app = await catalog(t, 300)
  const key = await apiKey(app, 'editor')
  const before = await sqlIds(app, 'price')
  const aheadOfCursor: number[] = []
  const behindCursor: number[] = []

  const { items } = await walk(
    app,
    { sort: 'price', limit: 13 },
    {
      between: async (page, n) => {
        const last = page.data.at(-1) as Product
        // Below the cursor, equal to it (a tie that sorts after it by id), just above it, and across the range.
        const candidates = [
          Math.max(0, priceOf(last) - 1),
          priceOf(last),
          priceOf(last) + 1,
          (n * 7919) % 100_000,
          0,
          150_000
        ]
        for (const [j, priceCents] of candidates.entries()) {
          const res = await app.inject({
            method: 'POST',
            url: '/api/v1/products',
            headers: bearer(key),
            payload: {
              sku: `LIVE-${n}-${j}`,
              name: `Live Lamp ${n} ${j}`,
              priceCents,
              currency: 'USD',
              status: 'active'
            }
          })
          assert.equal(res.statusCode, 201, res.body)
          const product = res.json<{ data: Product }>().data
          // The product sorts after the cursor (price asc, id asc) iff it costs at least the cursor's price: its id is larger.
          assert.ok(product.id > last.id)
          ;(priceOf(product) >= priceOf(last) ? aheadOfCursor : behindCursor).push(product.id)
        }
      }
    }
  )
  assert.ok(aheadOfCursor.length > 20 && behindCursor.length > 20)
  assertNoDuplicates(items)
  const preExisting = new Set(before)
  assert.deepEqual(
    ids(items).filter((id) => preExisting.has(id)),
    before,
    'every pre-existing product, once, in order, with no gap'
  )
  const listedNew = ids(items).filter((id) => !preExisting.has(id))
  assert.deepEqual(
    new Set(listedNew),
    new Set(aheadOfCursor),
    'new products ahead of the cursor are listed, those behind it are not'
  )
  assertOrdered(items, 'price')
})

// ---------------------------------------------------------------------------------------------------------------
// Link header
// ---------------------------------------------------------------------------------------------------------------

test('when the Link header is followed from page to page, then it yields the same pages as following the cursor', async (t) => {
  const app = await catalog(t)
  const home = await categoryId(app, 'home')
  const cases: Params[] = [
    { limit: 7 },
    { sort: '-price', limit: 13, status: 'active', q: 'lamp -oak' },
    { sort: 'name', limit: 7, q: '"modern steel" or kettle' },
    { sort: 'price', limit: 5, categoryId: home, includeDescendants: true, minPrice: 1000, maxPrice: 90000 }
  ]
  for (const params of cases) {
    const byCursor = await walk(app, params)
    const byLink = await walk(app, params, { follow: 'link' })
    assert.ok(byCursor.pages.length > 2, `${query(params)} spans several pages`)
    assert.deepEqual(byLink.pages.map(ids), byCursor.pages.map(ids), query(params))
  }
})

// ---------------------------------------------------------------------------------------------------------------
// Invalid cursors
// ---------------------------------------------------------------------------------------------------------------

test('when the cursor is garbage, then 400 INVALID_CURSOR as problem+json naming cursor', async (t) => {
  const app = await catalog(t, 30)
  for (const cursor of [
    'abc',
    'not-a-cursor',
    '...',
    'a.b',
    'a.b.c',
    '.',
    'x.',
    '.x',
    '%00',
    '{"s":"products:newest","k":[]}',
    '🙂.🙂'
  ]) {
    const res = await app.inject({ method: 'GET', url: listUrl({ cursor }) })
    assertProblem(res, 'INVALID_CURSOR', 'cursor')
  }
})

test('when the payload of an issued cursor is altered, then 400 INVALID_CURSOR', async (t) => {
  const app = await catalog(t, 60)
  const cursor = await cursorOf(app, { sort: 'price', limit: 7 })
  const [payload, signature] = cursor.split('.') as [string, string]
  const decoded = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { s: string; k: [number, number] }
  assert.equal(decoded.s, 'products:price:USD', 'the payload is readable JSON (sanity check of the tampering below)')

  const tampered = [
    // Skip ahead: a lower price in the key, signature kept.
    `${Buffer.from(JSON.stringify({ ...decoded, k: [0, decoded.k[1]] })).toString('base64url')}.${signature}`,
    // Another id in the key.
    `${Buffer.from(JSON.stringify({ ...decoded, k: [decoded.k[0], decoded.k[1] + 1] })).toString('base64url')}.${signature}`,
    // Another sort claimed in the payload.
    `${Buffer.from(JSON.stringify({ ...decoded, s: 'products:name' })).toString('base64url')}.${signature}`,
    // One character of the payload changed.
    `${payload.slice(0, -1)}${payload.endsWith('A') ? 'B' : 'A'}.${signature}`,
    // The cursor with something appended.
    `${cursor}.extra`
  ]
  for (const bad of tampered) {
    const res = await app.inject({ method: 'GET', url: listUrl({ sort: 'price', limit: 7, cursor: bad }) })
    assertProblem(res, 'INVALID_CURSOR', 'cursor')
  }
  // The unaltered cursor is accepted: the refusals above are about the alterations.
  const ok = await app.inject({ method: 'GET', url: listUrl({ sort: 'price', limit: 7, cursor }) })
  assert.equal(ok.statusCode, 200, ok.body)
})

test('when the signature of an issued cursor is altered, truncated or removed, then 400 INVALID_CURSOR', async (t) => {
  const app = await catalog(t, 60)
  const cursor = await cursorOf(app, { limit: 7 })
  const [payload, signature] = cursor.split('.') as [string, string]
  const flipped = `${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`
  for (const bad of [
    `${payload}.${flipped}`,
    `${payload}.${signature.slice(0, -2)}`,
    `${payload}.`,
    payload,
    `${payload}.${signature}AA`
  ]) {
    const res = await app.inject({ method: 'GET', url: listUrl({ limit: 7, cursor: bad }) })
    assertProblem(res, 'INVALID_CURSOR', 'cursor')
  }
})

test('when a cursor issued for one sort is used with another, then 400 INVALID_CURSOR', async (t) => {
  const app = await catalog(t, 60)
  for (const from of SORTS) {
    const cursor = await cursorOf(app, { sort: from, limit: 7 })
    for (const to of SORTS.filter((s) => s !== from)) {
      const res = await app.inject({ method: 'GET', url: listUrl({ sort: to, limit: 7, cursor }) })
      assertProblem(res, 'INVALID_CURSOR', 'cursor')
    }
  }
})

test('when a cursor issued by the categories list is used for products, then 400 INVALID_CURSOR', async (t) => {
  const app = await catalog(t, 60)
  const res = await app.inject({ method: 'GET', url: '/api/v1/categories?limit=7&sort=newest' })
  assert.equal(res.statusCode, 200, res.body)
  const cursor = res.json<PageBody>().pagination.cursor
  assert.ok(cursor)
  assertProblem(
    await app.inject({ method: 'GET', url: listUrl({ sort: 'newest', limit: 7, cursor }) }),
    'INVALID_CURSOR',
    'cursor'
  )
})

test('when a cursor is built by hand with a made-up signature, then 400 INVALID_CURSOR', async (t) => {
  const app = await catalog(t, 60)
  const { rows } = await app.db.primary.query<{ price_cents: number; id: number }>(
    `SELECT price_cents, id FROM ${PRICED} ORDER BY price_cents, id OFFSET 20 LIMIT 1`
  )
  const row = rows[0] as { price_cents: number; id: number }
  const payload = Buffer.from(JSON.stringify({ s: 'products:price:USD', k: [row.price_cents, row.id] })).toString(
    'base64url'
  )
  for (const signature of [
    Buffer.alloc(16).toString('base64url'),
    Buffer.from('0123456789abcdef').toString('base64url'),
    'x'
  ]) {
    const res = await app.inject({ method: 'GET', url: listUrl({ sort: 'price', cursor: `${payload}.${signature}` }) })
    assertProblem(res, 'INVALID_CURSOR', 'cursor')
  }
})

test('when a cursor signed with another CURSOR_SECRET is used, then 400 INVALID_CURSOR', async (t) => {
  const app = await catalog(t, 60)
  const other = await build(t, { CURSOR_SECRET: 'a-different-secret-for-another-deployment' }, app.target)
  const foreign = await cursorOf(other, { limit: 7 })
  assertProblem(
    await app.inject({ method: 'GET', url: listUrl({ limit: 7, cursor: foreign }) }),
    'INVALID_CURSOR',
    'cursor'
  )
  const own = await cursorOf(app, { limit: 7 })
  assertProblem(
    await other.inject({ method: 'GET', url: listUrl({ limit: 7, cursor: own }) }),
    'INVALID_CURSOR',
    'cursor'
  )
})

test('when a correctly signed cursor carries a key of the wrong shape, then 400 INVALID_CURSOR rather than a server error or a silent empty page', async (t) => {
  // Cursors signed with the signing key but holding a key the sort cannot use: what a client holding the
  // (public) development secret could forge, or what a cursor issued before a sort's key changed would hold.
  const app = await catalog(t, 60)
  const cases: [ProductSort, (string | number)[]][] = [
    ['price', ['not-a-number', 1]],
    ['newest', ['not-a-date', 1]],
    ['newest', [12345, 'x']],
    ['price', []],
    ['price', [100]],
    ['name', ['Modern Steel Lamp 1', 1, 2]]
  ]
  const outcomes: string[] = []
  for (const [sort, key] of cases) {
    const cursor = app.cursors.encode(`products:${sort}`, key)
    const res = await app.inject({ method: 'GET', url: listUrl({ sort, limit: 7, cursor }) })
    const code = res.headers['content-type']?.toString().startsWith('application/problem+json')
      ? res.json<Problem>().code
      : ''
    outcomes.push(`sort=${sort} k=${JSON.stringify(key)} → ${res.statusCode} ${code}`)
  }
  assert.deepEqual(
    outcomes,
    cases.map(([sort, key]) => `sort=${sort} k=${JSON.stringify(key)} → 400 INVALID_CURSOR`)
  )
})

// ---------------------------------------------------------------------------------------------------------------
// Query validation
// ---------------------------------------------------------------------------------------------------------------

test('when limit is 0, 101, negative, fractional or not a number, then 400 VALIDATION_FAILED naming limit', async (t) => {
  const app = await catalog(t, 10)
  for (const limit of ['0', '101', '-1', '2.5', 'abc', '1e9']) {
    const body = assertProblem(
      await app.inject({ method: 'GET', url: `/api/v1/products?limit=${limit}` }),
      'VALIDATION_FAILED',
      'limit'
    )
    assert.deepEqual(
      body.errors?.map((e) => e.field),
      ['limit'],
      `limit=${limit}`
    )
  }
})

test('when an unknown query parameter is sent, then 400 VALIDATION_FAILED naming it', async (t) => {
  const app = await catalog(t, 10)
  for (const name of ['foo', 'min_price', 'offset', 'page']) {
    const body = assertProblem(
      await app.inject({ method: 'GET', url: `/api/v1/products?limit=5&${name}=1` }),
      'VALIDATION_FAILED',
      name
    )
    assert.match(body.detail, new RegExp(name))
  }
})

test('when sort, status, includeDescendants or a price bound has an invalid value, then 400 VALIDATION_FAILED naming it', async (t) => {
  const app = await catalog(t, 10)
  for (const [name, value] of [
    ['sort', 'cheapest'],
    ['sort', 'price,-name'],
    ['status', 'deleted'],
    ['includeDescendants', 'maybe'],
    ['minPrice', '-1'],
    ['maxPrice', '9.99'],
    ['categoryId', '0']
  ]) {
    assertProblem(
      await app.inject({ method: 'GET', url: `/api/v1/products?${name}=${value}` }),
      'VALIDATION_FAILED',
      name as string
    )
  }
})

test('when a price bound is beyond the largest price a product can have, then the request gets a 400 naming it or a correct page, never a 500', async (t) => {
  const app = await catalog(t, 10)
  const total = await count(app, 'products')
  const wrong: string[] = []
  for (const [name, value] of [
    ['minPrice', '2147483648'],
    ['maxPrice', '2147483648'],
    ['minPrice', '99999999999999999999'],
    ['maxPrice', '99999999999999999999']
  ] as const) {
    const res = await app.inject({ method: 'GET', url: `/api/v1/products?limit=100&${name}=${value}` })
    if (res.statusCode === 400) {
      assertProblem(res, 'VALIDATION_FAILED', name)
    } else if (res.statusCode !== 200) {
      wrong.push(`${name}=${value} → ${res.statusCode} ${res.json<Problem>().code}`)
    } else {
      // Answered: then with the right meaning (no product costs more than 2^31 - 1 cents).
      const listed = res.json<PageBody>().data.length
      if (listed !== (name === 'minPrice' ? 0 : total)) wrong.push(`${name}=${value} → 200 with ${listed} products`)
    }
  }
  assert.deepEqual(wrong, [])
})

test('when minPrice exceeds maxPrice, then 400 VALIDATION_FAILED; equal bounds are accepted', async (t) => {
  const app = await catalog(t, 10)
  const body = assertProblem(
    await app.inject({ method: 'GET', url: listUrl({ minPrice: 5001, maxPrice: 5000 }) }),
    'VALIDATION_FAILED',
    'minPrice'
  )
  assert.match(body.detail, /maxPrice/)
  const equal = await app.inject({ method: 'GET', url: listUrl({ minPrice: 5000, maxPrice: 5000 }) })
  assert.equal(equal.statusCode, 200, equal.body)
  assert.ok(equal.json<PageBody>().data.every((p) => priceOf(p) === 5000))
})

// ---------------------------------------------------------------------------------------------------------------
// Deep pages use the index
// ---------------------------------------------------------------------------------------------------------------

interface PlanNode {
  'Node Type': string
  'Index Name'?: string
  'Index Cond'?: string
  'Scan Direction'?: string
  'Actual Rows'?: number
  'Actual Loops'?: number
  'Rows Removed by Filter'?: number
  Plans?: PlanNode[]
}

/** A Queryable on `client` that keeps every statement it is sent. */
function capturingQueries(client: Queryable) {
  const captured: { text: string; values: unknown[] }[] = []
  const capturing: Queryable = {
    query: (text, values) => {
      captured.push({ text: typeof text === 'string' ? text : text.text, values: values ?? [] })
      return client.query(text, values)
    }
  }
  return { captured, capturing }
}

const flatten = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(flatten)]

async function explain(q: Queryable, options: string, sql: { text: string; values: unknown[] }): Promise<PlanNode[]> {
  const { rows } = await q.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (${options}) ${sql.text}`, sql.values)
  const raw = rows[0]?.['QUERY PLAN']
  const doc = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan: PlanNode }[]
  assert.ok(doc[0]?.Plan)
  return flatten(doc[0].Plan)
}

test('when a deep page is read, then the query enters the sort index at the cursor: index scans with no OFFSET, and a Sort of at most one page when statuses are merged', async (t) => {
  const app = await build(t)
  await seed(app, 20_000)
  await app.db.primary.query('ANALYZE products, product_variants, product_prices')
  // Released in `finally`, not in t.after: app.close() (an earlier after hook) waits for every client of the pool.
  const client = await app.db.primary.connect()
  try {
    const { captured, capturing } = capturingQueries(client)

    const leaf = await categoryId(app, 'office-desks')
    // Lists over every status (editors) merge one index scan per status, each entered at the cursor; a status
    // filter (every public list) is one index scan. Every ordered products index leads with status (migration 008).
    const cases: {
      name: string
      sort: ProductSort
      index: string
      direction: string
      where: string
      filter: { categoryIds?: number[]; status?: 'active' }
      depth: number
      /** One scan per status, merged: the scan runs once per status and a Sort orders their few rows. */
      merged?: boolean
    }[] = [
      {
        name: 'newest',
        sort: 'newest',
        index: 'products_status_created_idx',
        direction: 'Forward',
        where: 'TRUE',
        filter: {},
        depth: 15_000,
        merged: true
      },
      {
        name: 'newest, active only',
        sort: 'newest',
        index: 'products_status_created_idx',
        direction: 'Forward',
        where: "status = 'active'",
        filter: { status: 'active' },
        depth: 15_000
      },
      {
        name: 'price',
        sort: 'price',
        index: 'product_prices_min_idx',
        direction: 'Forward',
        where: 'TRUE',
        filter: {},
        depth: 15_000
      },
      {
        name: '-price',
        sort: '-price',
        index: 'product_prices_min_idx',
        direction: 'Backward',
        where: 'TRUE',
        filter: {},
        depth: 15_000
      },
      {
        name: 'name',
        sort: 'name',
        index: 'products_status_name_idx',
        direction: 'Forward',
        where: 'TRUE',
        filter: {},
        depth: 15_000,
        merged: true
      },
      {
        name: 'name, active only',
        sort: 'name',
        index: 'products_status_name_idx',
        direction: 'Forward',
        where: "status = 'active'",
        filter: { status: 'active' },
        depth: 15_000
      },
      {
        name: 'newest within a category',
        sort: 'newest',
        index: 'products_status_category_created_idx',
        direction: 'Forward',
        where: `category_id = ${leaf}`,
        filter: { categoryIds: [leaf] },
        depth: 300,
        merged: true
      },
      {
        name: 'newest within a category, active only',
        sort: 'newest',
        index: 'products_status_category_created_idx',
        direction: 'Forward',
        where: `category_id = ${leaf} AND status = 'active'`,
        filter: { categoryIds: [leaf], status: 'active' },
        depth: 250
      },
      {
        name: 'price within a category',
        sort: 'price',
        index: 'product_prices_category_min_idx',
        direction: 'Forward',
        where: `category_id = ${leaf}`,
        filter: { categoryIds: [leaf] },
        depth: 300
      }
    ]

    for (const c of cases) {
      await t.test(`${c.name}: Index Scan on ${c.index}`, async () => {
        const limit = 20
        const { rows: deep } = await client.query<ProductRow>(
          `SELECT *, price_cents AS min_cents FROM ${PRICED} WHERE ${c.where} ORDER BY ${ORDER_SQL[c.sort]} OFFSET ${c.depth} LIMIT 1`
        )
        assert.ok(deep[0], `the table has more than ${c.depth} rows for this case`)
        const after = productCursorKey(c.sort, deep[0])

        captured.length = 0
        const rows = await listProducts(capturing, { ...c.filter, currency: 'USD' }, c.sort, after, limit)
        assert.equal(captured.length, 1, 'one query per page')
        const sql = captured[0] as { text: string; values: unknown[] }

        // The page itself is right at this depth: the limit+1 rows after the cursor row.
        const { rows: next } = await client.query<{ id: number }>(
          `SELECT id FROM ${PRICED} WHERE ${c.where} ORDER BY ${ORDER_SQL[c.sort]} OFFSET ${c.depth + 1} LIMIT ${limit + 1}`
        )
        assert.deepEqual(ids(rows), ids(next))

        assert.doesNotMatch(sql.text, /\boffset\b/i, 'no OFFSET in the page query')
        const nodes = await explain(client, 'FORMAT JSON', sql)
        const types = nodes.map((n) => n['Node Type'])
        if (!c.merged)
          assert.ok(
            !types.includes('Sort') && !types.includes('Incremental Sort'),
            `no Sort node: ${types.join(' → ')}`
          )
        const scan = nodes.find((n) => n['Node Type'] === 'Index Scan' || n['Node Type'] === 'Index Only Scan')
        assert.ok(scan, `an index scan: ${types.join(' → ')}`)
        assert.equal(scan['Index Name'], c.index)
        assert.equal(scan['Scan Direction'], c.direction)
        assert.match(scan['Index Cond'] ?? '', /ROW\(/, 'the cursor position is an index condition, not a filter')

        // Executed: the index is entered at the cursor, so the scan reads only the rows of the page.
        const analyzed = await explain(client, 'ANALYZE, FORMAT JSON', sql)
        const run = analyzed.find((n) => n['Index Name'] === c.index)
        assert.ok(run)
        if (c.merged) {
          assert.equal(run['Actual Loops'], 3, 'one scan per status')
          assert.ok((run['Actual Rows'] ?? Infinity) <= limit + 1, 'each scan stops after limit + 1 rows')
          const sorted = analyzed.filter((n) => n['Node Type'] === 'Sort')
          for (const sort of sorted) assert.ok((sort['Actual Rows'] ?? Infinity) <= limit + 1, 'a Sort of one page')
        } else assert.equal(run['Actual Rows'], limit + 1, 'the scan stops after limit + 1 rows')
        assert.equal(run['Rows Removed by Filter'] ?? 0, 0, 'no rows read and thrown away')
      })
    }
  } finally {
    client.release()
  }
})

test('when the newest products are all drafts, then a public page still reads only its own rows: no walk past the drafts', async (t) => {
  const app = await build(t)
  await seed(app, 2_000)
  // A batch of new drafts (an import, say), newer than every active product; then fresh statistics.
  await app.db.primary.query(
    `INSERT INTO products (name, slug, status, created_at)
     SELECT 'Draft ' || g, 'skew-draft-' || g, 'draft', now() + make_interval(secs => g) FROM generate_series(1, 20000) g`
  )
  await app.db.primary.query('ANALYZE products')
  const client = await app.db.primary.connect()
  try {
    const { captured, capturing } = capturingQueries(client)
    for (const sort of ['newest', 'name'] as const) {
      captured.length = 0
      const rows = await listProducts(capturing, { status: 'active', currency: 'USD' }, sort, undefined, 20)
      assert.equal(rows.length, 21)
      assert.ok(rows.every((r) => r.status === 'active'))
      const analyzed = await explain(client, 'ANALYZE, FORMAT JSON', captured[0] as { text: string; values: unknown[] })
      const scanned = analyzed
        .filter((n) => n['Node Type'].includes('Scan') && n['Index Name']?.startsWith('products_'))
        .map((n) => ({ index: n['Index Name'], rows: n['Actual Rows'], removed: n['Rows Removed by Filter'] ?? 0 }))
      assert.deepEqual(
        scanned,
        [
          {
            index: sort === 'newest' ? 'products_status_created_idx' : 'products_status_name_idx',
            rows: 21,
            removed: 0
          }
        ],
        sort
      )
    }
  } finally {
    client.release()
  }
})
