import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import type { LightMyRequestResponse } from 'fastify'
import type { Category } from '../../src/modules/categories/schemas.js'
import { type TestApp, apiKey, bearer, build, count, seed, assertProblem } from '../helper.js'

// ─── helpers ────────────────────────────────────────────────────────────────────────────────────────

const BASE = '/api/v1/categories'

function assertValidation(res: LightMyRequestResponse, field: string, message?: RegExp) {
  const body = assertProblem(res, 400, 'VALIDATION_FAILED')
  assert.ok(Array.isArray(body.errors), `errors[] is present: ${res.body}`)
  const hit = body.errors.find((e) => e.field === field)
  assert.ok(hit, `errors[] names ${field}: ${JSON.stringify(body.errors)}`)
  if (message) assert.match(hit.message, message)
}

function assertUnauthorized(res: LightMyRequestResponse, error?: string) {
  assertProblem(res, 401, 'UNAUTHORIZED')
  const challenge = String(res.headers['www-authenticate'] ?? '')
  assert.match(challenge, /^Bearer /)
  if (error) assert.ok(challenge.includes(`error="${error}"`), challenge)
}

async function make(app: TestApp, key: string, body: Record<string, unknown>): Promise<Category> {
  const res = await app.inject({ method: 'POST', url: BASE, headers: bearer(key), payload: body })
  assert.equal(res.statusCode, 201, res.body)
  return res.json().data as Category
}

const patch = (app: TestApp, key: string, id: number, payload: unknown, headers: Record<string, string> = {}) =>
  app.inject({
    method: 'PATCH',
    url: `${BASE}/${id}`,
    headers: { ...bearer(key), ...headers },
    payload: payload as object
  })

const del = (app: TestApp, headers: Record<string, string>, id: number) =>
  app.inject({ method: 'DELETE', url: `${BASE}/${id}`, headers })

/** Every category row and the product count: the proof that a rejected request wrote nothing. */
async function snapshot(app: TestApp) {
  const { rows } = await app.db.primary.query(
    'SELECT id, name, slug, description, parent_id, version, created_at, updated_at FROM categories ORDER BY id'
  )
  return { categories: rows, products: await count(app, 'products') }
}

async function row(app: TestApp, id: number) {
  const { rows } = await app.db.primary.query<{
    parent_id: number | null
    version: number
    name: string
    slug: string
  }>('SELECT parent_id, version, name, slug FROM categories WHERE id = $1', [id])
  return rows[0]
}

async function insertProduct(app: TestApp, categoryId: number): Promise<number> {
  const tag = randomBytes(4).toString('hex')
  const { rows } = await app.db.primary.query<{ id: number }>(
    `INSERT INTO products (name, slug, category_id) VALUES ($1, $2, $3) RETURNING id`,
    [`Test product ${tag}`, `test-product-${tag}`, categoryId]
  )
  return rows[0]!.id
}

/** Number of categories that reach themselves by following parent links (0 in a tree). */
const CYCLE_SQL = `
  WITH RECURSIVE up(start, id) AS (
    SELECT id, parent_id FROM categories WHERE parent_id IS NOT NULL
    UNION
    SELECT up.start, c.parent_id FROM up JOIN categories c ON c.id = up.id WHERE c.parent_id IS NOT NULL
  )
  SELECT count(*)::int AS n FROM up WHERE start = id`

const unknownKey = () => `ck_${randomBytes(32).toString('base64url')}`

// ─── reading one category ───────────────────────────────────────────────────────────────────────────

test('when a category is fetched, then it has the envelope and a strong ETag "id.version"', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  const created = await make(app, editor, { name: 'Kitchen Tools', description: 'Pots and pans' })
  const res = await app.inject({ method: 'GET', url: `${BASE}/${created.id}` })
  assert.equal(res.statusCode, 200)
  assert.match(String(res.headers['content-type']), /^application\/json/)
  assert.equal(res.headers.etag, `"${created.id}.1"`)
  const body = res.json()
  assert.equal(body.success, true)
  assert.deepEqual(body.data, created)
  assert.equal(body.data.name, 'Kitchen Tools')
  assert.equal(body.data.slug, 'kitchen-tools')
  assert.equal(body.data.description, 'Pots and pans')
  assert.equal(body.data.parentId, null)
  assert.equal(body.data.version, 1)
})

test('when If-None-Match names the current ETag, then 304 without a body; a stale ETag gives 200', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  const c = await make(app, editor, { name: 'Lamps' })
  const etag = `"${c.id}.1"`

  const hit = await app.inject({ method: 'GET', url: `${BASE}/${c.id}`, headers: { 'if-none-match': etag } })
  assert.equal(hit.statusCode, 304)
  assert.equal(hit.body, '')
  assert.equal(hit.headers.etag, etag)

  const weak = await app.inject({
    method: 'GET',
    url: `${BASE}/${c.id}`,
    headers: { 'if-none-match': `"x.9", W/${etag}` }
  })
  assert.equal(weak.statusCode, 304, 'If-None-Match uses the weak comparison and accepts a list')

  assert.equal((await patch(app, editor, c.id, { description: 'changed' })).statusCode, 200)
  const stale = await app.inject({ method: 'GET', url: `${BASE}/${c.id}`, headers: { 'if-none-match': etag } })
  assert.equal(stale.statusCode, 200)
  assert.equal(stale.headers.etag, `"${c.id}.2"`)
  assert.equal(stale.json().data.description, 'changed')
})

test('when a category that does not exist is fetched, then 404 CATEGORY_NOT_FOUND; a malformed id gives 400', async (t) => {
  const app = await build(t)
  assertProblem(await app.inject({ method: 'GET', url: `${BASE}/999999` }), 404, 'CATEGORY_NOT_FOUND')
  for (const id of ['abc', '0', '-1', '1.5', '2147483648']) {
    assertValidation(await app.inject({ method: 'GET', url: `${BASE}/${id}` }), 'id')
  }
})

test('when a client sends a well-formed X-Request-Id, then the problem carries it as requestId', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: `${BASE}/424242`, headers: { 'x-request-id': 'trace-abc.123' } })
  const body = assertProblem(res, 404, 'CATEGORY_NOT_FOUND')
  assert.equal((body as { requestId?: string }).requestId, 'trace-abc.123')
})

// ─── listing ────────────────────────────────────────────────────────────────────────────────────────

test('when categories are listed without parameters, then 20 newest come first with a cursor and a Link header', async (t) => {
  const app = await build(t)
  await seed(app, 0)
  const res = await app.inject({ method: 'GET', url: BASE })
  assert.equal(res.statusCode, 200)
  const body = res.json()
  assert.equal(body.success, true)
  assert.equal(body.data.length, 20)
  assert.equal(body.pagination.hasMore, true)
  assert.equal(typeof body.pagination.cursor, 'string')
  const { rows } = await app.db.primary.query<{ id: number }>(
    'SELECT id FROM categories ORDER BY created_at DESC, id DESC LIMIT 20'
  )
  assert.deepEqual(
    body.data.map((c: Category) => c.id),
    rows.map((r) => r.id)
  )
  assert.equal(res.headers.link, `<${BASE}?cursor=${encodeURIComponent(body.pagination.cursor)}>; rel="next"`)
})

/** Follows rel="next" from `first` to the last page; returns the ids in the order served. */
async function walk(app: TestApp, first: string, limit: number): Promise<number[]> {
  const ids: number[] = []
  let url: string | undefined = first
  for (let pages = 0; url !== undefined; pages++) {
    assert.ok(pages < 200, 'the walk ends')
    const res: LightMyRequestResponse = await app.inject({ method: 'GET', url })
    assert.equal(res.statusCode, 200, res.body)
    const body = res.json()
    assert.ok(body.data.length <= limit, `a page holds at most ${limit}`)
    ids.push(...body.data.map((c: Category) => c.id))
    if (body.pagination.hasMore) {
      assert.equal(body.data.length, limit, 'every page but the last is full')
      const link = /^<([^>]+)>; rel="next"$/.exec(String(res.headers.link))
      assert.ok(link, `Link header: ${String(res.headers.link)}`)
      const next = new URL(link[1]!, 'http://localhost')
      assert.equal(next.pathname, BASE)
      assert.equal(next.searchParams.get('cursor'), body.pagination.cursor)
      assert.equal(next.searchParams.get('limit'), String(limit))
      url = link[1]
    } else {
      assert.equal(body.pagination.cursor, null)
      assert.equal(res.headers.link, undefined, 'no Link on the last page')
      url = undefined
    }
  }
  return ids
}

test('when every page is walked with limit 7 in each sort, then every category appears exactly once and in order', async (t) => {
  const app = await build(t)
  await seed(app, 0)
  const editor = await apiKey(app, 'editor')
  // Same names as seeded rows (ties broken by id in the name sort) and same-millisecond rows are likely too.
  for (let i = 0; i < 5; i++) await make(app, editor, { name: 'Phones', slug: `phones-extra-${i}` })
  for (let i = 0; i < 3; i++) await make(app, editor, { name: `Zz walk ${i}` })
  const total = await count(app, 'categories')
  assert.equal(total, 58)

  const expected = {
    newest: (
      await app.db.primary.query<{ id: number }>('SELECT id FROM categories ORDER BY created_at DESC, id DESC')
    ).rows.map((r) => r.id),
    name: (await app.db.primary.query<{ id: number }>('SELECT id FROM categories ORDER BY name, id')).rows.map(
      (r) => r.id
    )
  }
  for (const sort of ['newest', 'name'] as const) {
    const ids = await walk(app, `${BASE}?limit=7&sort=${sort}`, 7)
    assert.equal(ids.length, total, `${sort}: every category is served`)
    assert.equal(new Set(ids).size, total, `${sort}: no category is served twice`)
    assert.deepEqual(ids, expected[sort], `${sort}: in order`)
  }
  // The default sort is newest.
  assert.deepEqual(await walk(app, `${BASE}?limit=7`, 7), expected.newest)
})

test('when the newest listing is walked, then createdAt never increases and ties are ordered by id descending', async (t) => {
  const app = await build(t)
  await seed(app, 0) // every seeded category has the same createdAt: the id decides
  const editor = await apiKey(app, 'editor')
  for (let i = 0; i < 4; i++) await make(app, editor, { name: `Fresh ${i}` })
  const res = await app.inject({ method: 'GET', url: `${BASE}?limit=100` })
  const data: Category[] = res.json().data
  assert.equal(data.length, 54)
  assert.equal(res.json().pagination.hasMore, false)
  for (let i = 1; i < data.length; i++) {
    const [a, b] = [data[i - 1]!, data[i]!]
    const ta = Date.parse(a.createdAt)
    const tb = Date.parse(b.createdAt)
    assert.ok(ta > tb || (ta === tb && a.id > b.id), `${a.id}@${a.createdAt} before ${b.id}@${b.createdAt}`)
  }
  assert.deepEqual(
    data.slice(0, 4).map((c) => c.name),
    ['Fresh 3', 'Fresh 2', 'Fresh 1', 'Fresh 0']
  )
})

test('when categories are listed with parentId, then only its direct children are served, across pages', async (t) => {
  const app = await build(t)
  await seed(app, 0)
  const { rows } = await app.db.primary.query<{ id: number }>("SELECT id FROM categories WHERE slug = 'electronics'")
  const electronics = rows[0]!.id
  const editor = await apiKey(app, 'editor')
  const phones = (
    await app.db.primary.query<{ id: number }>("SELECT id FROM categories WHERE slug = 'electronics-phones'")
  ).rows[0]!.id
  await make(app, editor, { name: 'Smartphones', parentId: phones }) // a grandchild: must not be listed

  const ids = await walk(app, `${BASE}?parentId=${electronics}&limit=3&sort=name`, 3)
  const names = []
  for (const id of ids) names.push((await row(app, id))!.name)
  assert.deepEqual(names, ['Audio', 'Cameras', 'Laptops', 'Phones'])
  for (const id of ids) assert.equal((await row(app, id))!.parent_id, electronics)

  // An exact multiple of the limit: the last full page says hasMore false.
  const exact = await app.inject({ method: 'GET', url: `${BASE}?parentId=${electronics}&limit=4` })
  assert.equal(exact.json().data.length, 4)
  assert.deepEqual(exact.json().pagination, { cursor: null, hasMore: false })

  const none = await app.inject({ method: 'GET', url: `${BASE}?parentId=999999` })
  assert.equal(none.statusCode, 200)
  assert.deepEqual(none.json().data, [])
})

test('when limit, sort or parentId are out of range or unknown parameters are sent, then 400 naming the parameter', async (t) => {
  const app = await build(t)
  const cases: [string, string][] = [
    ['limit=0', 'limit'],
    ['limit=101', 'limit'],
    ['limit=abc', 'limit'],
    ['limit=1.5', 'limit'],
    ['sort=price', 'sort'],
    ['sort=', 'sort'],
    ['parentId=0', 'parentId'],
    ['parentId=abc', 'parentId'],
    ['colour=red', 'colour'],
    ['cursor=', 'cursor']
  ]
  for (const [query, field] of cases) {
    assertValidation(await app.inject({ method: 'GET', url: `${BASE}?${query}` }), field)
  }
  for (const limit of [1, 100]) {
    assert.equal(
      (await app.inject({ method: 'GET', url: `${BASE}?limit=${limit}` })).statusCode,
      200,
      `limit=${limit} is accepted`
    )
  }
})

test('when a listing cursor was altered, forged or belongs to another sort, then 400 INVALID_CURSOR', async (t) => {
  const app = await build(t)
  await seed(app, 0)
  const first = await app.inject({ method: 'GET', url: `${BASE}?limit=5&sort=name` })
  const cursor: string = first.json().pagination.cursor
  const [payload, mac] = cursor.split('.') as [string, string]

  const decoded = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
  decoded.k[1] = Number(decoded.k[1]) + 1
  const edited = `${Buffer.from(JSON.stringify(decoded)).toString('base64url')}.${mac}`
  const flipped = `${payload.slice(0, -1)}${payload.endsWith('A') ? 'B' : 'A'}.${mac}`

  for (const [label, bad, sort] of [
    ['edited key, old signature', edited, 'name'],
    ['one character changed', flipped, 'name'],
    ['signature dropped', payload, 'name'],
    ['extra segment', `${cursor}.x`, 'name'],
    ['not a cursor', 'garbage', 'name'],
    ['name cursor used for newest', cursor, 'newest']
  ] as const) {
    const res = await app.inject({ method: 'GET', url: `${BASE}?sort=${sort}&cursor=${encodeURIComponent(bad)}` })
    const body = assertProblem(res, 400, 'INVALID_CURSOR')
    assert.ok(
      body.errors?.some((e) => e.field === 'cursor'),
      `${label}: errors name the cursor`
    )
  }
  // The untouched cursor still works.
  const ok = await app.inject({ method: 'GET', url: `${BASE}?sort=name&limit=5&cursor=${encodeURIComponent(cursor)}` })
  assert.equal(ok.statusCode, 200)
})

test('when a cursor signed by this API carries a key that does not fit the list, then 400 INVALID_CURSOR, not 500', async (t) => {
  // Such keys cannot come from this API; they need the signing secret (public when CURSOR_SECRET is unset).
  const app = await build(t)
  await seed(app, 0)
  const cases: [string, (string | number)[]][] = [
    ['newest', ['not-a-date', 1]],
    ['newest', ['2025-01-01T00:00:00.000Z', 'x']],
    ['newest', ['2025-01-01T00:00:00.000Z']],
    ['newest', ['2025-01-01T00:00:00.000Z', 1e12]],
    ['newest', ['0000-01-01T00:00:00.000Z', 1]],
    ['name', [1, 1]],
    ['name', []],
    ['name', ['nul\u0000', 1]]
  ]
  const wrong: string[] = []
  for (const [sort, key] of cases) {
    const cursor = app.cursors.encode(`categories:${sort}`, key)
    const res = await app.inject({ method: 'GET', url: `${BASE}?sort=${sort}&cursor=${encodeURIComponent(cursor)}` })
    if (res.statusCode !== 400 || res.json().code !== 'INVALID_CURSOR')
      wrong.push(`${sort} ${JSON.stringify(key)} → ${res.statusCode} ${res.json().code}`)
    else assertProblem(res, 400, 'INVALID_CURSOR')
  }
  assert.deepEqual(wrong, [], 'every ill-shaped key is refused as INVALID_CURSOR')
  // A well-shaped key signed the same way is accepted: the refusals above are about the shape.
  const fits = app.cursors.encode('categories:name', ['M', 1])
  assert.equal(
    (await app.inject({ method: 'GET', url: `${BASE}?sort=name&cursor=${encodeURIComponent(fits)}` })).statusCode,
    200
  )
})

test('when a product-list cursor is used on /categories, then 400 INVALID_CURSOR', async (t) => {
  const app = await build(t)
  await seed(app, 10)
  for (const sort of ['newest', 'name']) {
    const products = await app.inject({ method: 'GET', url: `/api/v1/products?limit=2&sort=${sort}` })
    assert.equal(products.statusCode, 200, products.body)
    const cursor: string = products.json().pagination.cursor
    assert.equal(typeof cursor, 'string')
    const res = await app.inject({ method: 'GET', url: `${BASE}?sort=${sort}&cursor=${encodeURIComponent(cursor)}` })
    assertProblem(res, 400, 'INVALID_CURSOR')
  }
})

// ─── create ─────────────────────────────────────────────────────────────────────────────────────────

test('when an editor creates a category, then 201 with the row, Location and ETag, and the slug derived from the name', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  const before = await count(app, 'categories')
  const res = await app.inject({
    method: 'POST',
    url: BASE,
    headers: bearer(editor),
    payload: { name: 'Café Crème & Tea' }
  })
  assert.equal(res.statusCode, 201, res.body)
  const body = res.json()
  assert.equal(body.success, true)
  const c: Category = body.data
  assert.equal(c.name, 'Café Crème & Tea')
  assert.equal(c.slug, 'cafe-creme-tea')
  assert.equal(c.description, '')
  assert.equal(c.parentId, null)
  assert.equal(c.version, 1)
  assert.ok(Number.isInteger(c.id) && c.id > 0, `id ${c.id} is a positive integer`)
  assert.ok(!Number.isNaN(Date.parse(c.createdAt)), `createdAt ${c.createdAt} is a date`)
  assert.equal(res.headers.location, `${BASE}/${c.id}`)
  assert.equal(res.headers.etag, `"${c.id}.1"`)
  assert.equal(await count(app, 'categories'), before + 1)
  assert.deepEqual(await row(app, c.id), {
    parent_id: null,
    version: 1,
    name: 'Café Crème & Tea',
    slug: 'cafe-creme-tea'
  })
})

test('when an admin creates a category with slug, description and parentId, then all are stored', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  const parent = await make(app, admin, { name: 'Garden' })
  const child = await make(app, admin, {
    name: 'Hoses',
    slug: 'garden-hoses-2',
    description: 'Long ones',
    parentId: parent.id
  })
  assert.equal(child.slug, 'garden-hoses-2')
  assert.equal(child.description, 'Long ones')
  assert.equal(child.parentId, parent.id)
  const fetched = await app.inject({ method: 'GET', url: `${BASE}/${child.id}` })
  assert.deepEqual(fetched.json().data, child)
  const explicitRoot = await make(app, admin, { name: 'Roots', parentId: null })
  assert.equal(explicitRoot.parentId, null)
})

test('when the create body is invalid, then 400 VALIDATION_FAILED naming the field, and nothing is written', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  const parent = await make(app, editor, { name: 'Existing Parent' })
  const cases: [string, unknown, string, RegExp?][] = [
    ['missing name', {}, 'name', /required/],
    ['missing name with other fields', { description: 'only a description' }, 'name', /required/],
    ['empty name', { name: '' }, 'name'],
    ['name too long', { name: 'x'.repeat(201) }, 'name'],
    ['unknown field', { name: 'Shoes', colour: 'red' }, 'colour', /not a known field/],
    ['unknown field version', { name: 'Shoes', version: 7 }, 'version', /not a known field/],
    ['name is a number (no coercion to "123")', { name: 123 }, 'name'],
    ['name is a boolean', { name: true }, 'name'],
    ['name is an array', { name: ['Shoes'] }, 'name'],
    ['parentId is a numeric string (no coercion)', { name: 'Shoes', parentId: String(parent.id) }, 'parentId'],
    ['parentId is zero', { name: 'Shoes', parentId: 0 }, 'parentId'],
    ['parentId is fractional', { name: 'Shoes', parentId: 1.5 }, 'parentId'],
    ['parentId beyond int4', { name: 'Shoes', parentId: 2_147_483_648 }, 'parentId'],
    ['description is null', { name: 'Shoes', description: null }, 'description'],
    ['description is a number', { name: 'Shoes', description: 5 }, 'description'],
    ['description too long', { name: 'Shoes', description: 'd'.repeat(5001) }, 'description'],
    ['slug with spaces', { name: 'Shoes', slug: 'Has Spaces' }, 'slug'],
    ['slug upper case', { name: 'Shoes', slug: 'Shoes' }, 'slug'],
    ['slug with a double dash', { name: 'Shoes', slug: 'a--b' }, 'slug'],
    ['slug with a trailing dash', { name: 'Shoes', slug: 'shoes-' }, 'slug'],
    ['slug empty', { name: 'Shoes', slug: '' }, 'slug'],
    ['NUL in name', { name: 'Nul\u0000Name' }, 'name', /NUL/],
    ['NUL in description', { name: 'Shoes', description: 'bad\u0000text' }, 'description', /NUL/],
    ['body is an array', [{ name: 'Shoes' }], 'body'],
    ['body is a string', 'Shoes', 'body']
  ]
  for (const [label, payload, field, message] of cases) {
    await t.test(label, async () => {
      const before = await snapshot(app)
      const res = await app.inject({
        method: 'POST',
        url: BASE,
        headers: { ...bearer(editor), 'content-type': 'application/json' },
        payload: JSON.stringify(payload)
      })
      assertValidation(res, field, message)
      assert.deepEqual(await snapshot(app), before)
    })
  }
})

test('when the create body is not JSON or not declared as JSON, then 400 MALFORMED_JSON / 415, and nothing is written', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  const before = await snapshot(app)
  const malformed = await app.inject({
    method: 'POST',
    url: BASE,
    headers: { ...bearer(editor), 'content-type': 'application/json' },
    payload: '{"name": "Shoes",'
  })
  assertProblem(malformed, 400, 'MALFORMED_JSON')
  const form = await app.inject({
    method: 'POST',
    url: BASE,
    headers: { ...bearer(editor), 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'name=Shoes'
  })
  assertProblem(form, 415, 'UNSUPPORTED_MEDIA_TYPE')
  // text/plain is refused too (Fastify parses it as a string, which the schema then rejects, or it is 415).
  const text = await app.inject({
    method: 'POST',
    url: BASE,
    headers: { ...bearer(editor), 'content-type': 'text/plain' },
    payload: '{"name":"Shoes"}'
  })
  assert.ok([400, 415].includes(text.statusCode), `text/plain: ${text.statusCode} ${text.body}`)
  assertProblem(text, text.statusCode, text.statusCode === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'VALIDATION_FAILED')
  assert.deepEqual(await snapshot(app), before)
})

test('when a category is created without a valid API key, then 401 with WWW-Authenticate: Bearer, and nothing is written', async (t) => {
  const app = await build(t)
  const revoked = await apiKey(app, 'editor')
  await app.db.primary.query('UPDATE api_keys SET revoked_at = now()')
  const before = await snapshot(app)
  const cases: [string, Record<string, string>, string?][] = [
    ['no Authorization header', {}],
    ['an unknown key', bearer(unknownKey()), 'invalid_token'],
    ['a revoked key', bearer(revoked), 'invalid_token'],
    ['a Basic credential', { authorization: 'Basic dXNlcjpwYXNz' }, 'invalid_request'],
    ['Bearer without a key', { authorization: 'Bearer ' }, 'invalid_request']
  ]
  for (const [label, headers, error] of cases) {
    await t.test(label, async () => {
      const res = await app.inject({ method: 'POST', url: BASE, headers, payload: { name: 'Sneaky' } })
      assertUnauthorized(res, error)
      assert.deepEqual(await snapshot(app), before)
    })
  }
})

test('when the slug is already taken on create, then 409 SLUG_TAKEN, and nothing is written', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  const first = await make(app, editor, { name: 'Outdoor' })
  const before = await snapshot(app)
  // Explicit slug and a slug derived from the same name both collide.
  assertProblem(
    await app.inject({
      method: 'POST',
      url: BASE,
      headers: bearer(editor),
      payload: { name: 'Something Else', slug: first.slug }
    }),
    409,
    'SLUG_TAKEN'
  )
  assertProblem(
    await app.inject({ method: 'POST', url: BASE, headers: bearer(editor), payload: { name: 'Outdoor' } }),
    409,
    'SLUG_TAKEN'
  )
  assert.deepEqual(await snapshot(app), before)
})

test('when parentId names no category on create, then 422 UNKNOWN_CATEGORY naming parentId, and nothing is written', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  await make(app, editor, { name: 'Existing' })
  const before = await snapshot(app)
  for (const parentId of [999_999, 2_147_483_647]) {
    const res = await app.inject({
      method: 'POST',
      url: BASE,
      headers: bearer(editor),
      payload: { name: 'Orphan', parentId }
    })
    const body = assertProblem(res, 422, 'UNKNOWN_CATEGORY')
    assert.ok(
      body.errors?.some((e) => e.field === 'parentId'),
      res.body
    )
  }
  assert.deepEqual(await snapshot(app), before)
})

// ─── update ─────────────────────────────────────────────────────────────────────────────────────────

test('when an editor patches a category, then 200 with the new values, version + 1 and a new ETag', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  const c = await make(app, editor, { name: 'Bikes', description: 'old' })
  const res = await patch(app, editor, c.id, { name: 'Bicycles', description: 'new', slug: 'bicycles' })
  assert.equal(res.statusCode, 200, res.body)
  const data: Category = res.json().data
  assert.equal(res.json().success, true)
  assert.equal(data.id, c.id)
  assert.equal(data.name, 'Bicycles')
  assert.equal(data.description, 'new')
  assert.equal(data.slug, 'bicycles')
  assert.equal(data.version, 2)
  assert.equal(data.createdAt, c.createdAt)
  assert.ok(Date.parse(data.updatedAt) >= Date.parse(c.updatedAt), 'updatedAt does not go back')
  assert.equal(res.headers.etag, `"${c.id}.2"`)
  assert.deepEqual((await app.inject({ method: 'GET', url: `${BASE}/${c.id}` })).json().data, data)
})

test('when If-Match names the current ETag, then the PATCH succeeds; when it is stale, then 412 and the row keeps its version', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  const c = await make(app, editor, { name: 'Tents' })
  const other = await make(app, editor, { name: 'Stoves' })

  const ok = await patch(app, editor, c.id, { description: 'v2' }, { 'if-match': `"${c.id}.1"` })
  assert.equal(ok.statusCode, 200, ok.body)
  assert.equal(ok.json().data.version, 2)

  const before = await snapshot(app)
  for (const ifMatch of [`"${c.id}.1"`, `W/"${c.id}.2"`, `"${other.id}.1"`, `"${c.id}.3"`]) {
    const res = await patch(
      app,
      editor,
      c.id,
      { description: 'lost update', parentId: other.id },
      { 'if-match': ifMatch }
    )
    assertProblem(res, 412, 'PRECONDITION_FAILED')
  }
  assert.deepEqual(await snapshot(app), before)
  assert.deepEqual(await row(app, c.id), { parent_id: null, version: 2, name: 'Tents', slug: 'tents' })

  const star = await patch(app, editor, c.id, { description: 'v3' }, { 'if-match': '*' })
  assert.equal(star.statusCode, 200)
  assert.equal(star.json().data.version, 3)
})

test('when the PATCH body is invalid, then 400 naming the field, and the row keeps its version and parent', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  const parent = await make(app, editor, { name: 'Parent' })
  const other = await make(app, editor, { name: 'Other' })
  const c = await make(app, editor, { name: 'Child', parentId: parent.id })
  const cases: [string, unknown, string, RegExp?][] = [
    ['empty body', {}, 'body'],
    ['unknown field', { colour: 'red' }, 'colour', /not a known field/],
    ['version is not writable', { version: 9 }, 'version', /not a known field/],
    ['id is not writable', { id: 1, name: 'X' }, 'id', /not a known field/],
    ['name is a number', { name: 42 }, 'name'],
    ['empty name', { name: '' }, 'name'],
    ['parentId is a numeric string (no coercion)', { parentId: String(other.id) }, 'parentId'],
    ['parentId is zero', { parentId: 0 }, 'parentId'],
    ['parentId is a boolean', { parentId: false }, 'parentId'],
    ['slug with spaces', { slug: 'Has Spaces' }, 'slug'],
    ['slug is null', { slug: null }, 'slug'],
    ['description is null', { description: null }, 'description'],
    ['NUL in name', { name: 'a\u0000b' }, 'name', /NUL/],
    ['NUL in description', { description: '\u0000' }, 'description', /NUL/]
  ]
  for (const [label, payload, field, message] of cases) {
    await t.test(label, async () => {
      const before = await snapshot(app)
      const res = await app.inject({
        method: 'PATCH',
        url: `${BASE}/${c.id}`,
        headers: { ...bearer(editor), 'content-type': 'application/json' },
        payload: JSON.stringify(payload)
      })
      assertValidation(res, field, message)
      assert.deepEqual(await snapshot(app), before)
      assert.deepEqual(await row(app, c.id), { parent_id: parent.id, version: 1, name: 'Child', slug: 'child' })
    })
  }
})

test('when a category is patched without a valid API key, then 401 with WWW-Authenticate: Bearer, and the row is unchanged', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  const parent = await make(app, editor, { name: 'Parent' })
  const c = await make(app, editor, { name: 'Child' })
  const before = await snapshot(app)
  for (const [headers, error] of [
    [{}, undefined],
    [bearer(unknownKey()), 'invalid_token'],
    [{ authorization: `Token ${editor}` }, 'invalid_request']
  ] as [Record<string, string>, string | undefined][]) {
    const res = await app.inject({
      method: 'PATCH',
      url: `${BASE}/${c.id}`,
      headers,
      payload: { name: 'Hijacked', parentId: parent.id }
    })
    assertUnauthorized(res, error)
  }
  assert.deepEqual(await snapshot(app), before)
})

test('when a category that does not exist is patched, then 404 CATEGORY_NOT_FOUND, and nothing is written', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  const parent = await make(app, editor, { name: 'Parent' })
  const before = await snapshot(app)
  assertProblem(await patch(app, editor, 999_999, { name: 'Ghost' }), 404, 'CATEGORY_NOT_FOUND')
  assertProblem(await patch(app, editor, 999_999, { parentId: parent.id }), 404, 'CATEGORY_NOT_FOUND')
  assertProblem(await patch(app, editor, 999_999, { parentId: null }), 404, 'CATEGORY_NOT_FOUND')
  assert.deepEqual(await snapshot(app), before)
})

test('when a PATCH sets a slug another category uses, then 409 SLUG_TAKEN, and the row keeps its version', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  const a = await make(app, editor, { name: 'Alpha' })
  const b = await make(app, editor, { name: 'Beta' })
  const before = await snapshot(app)
  assertProblem(await patch(app, editor, b.id, { slug: a.slug, name: 'Beta renamed' }), 409, 'SLUG_TAKEN')
  assert.deepEqual(await snapshot(app), before)
  // Setting its own slug again is not a conflict.
  assert.equal((await patch(app, editor, b.id, { slug: b.slug })).statusCode, 200)
})

test('when a PATCH moves a category under a parent that does not exist, then 422 UNKNOWN_CATEGORY, and it keeps its parent and version', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  const parent = await make(app, editor, { name: 'Parent' })
  const c = await make(app, editor, { name: 'Child', parentId: parent.id })
  const before = await snapshot(app)
  const res = await patch(app, editor, c.id, { parentId: 999_999, name: 'Renamed' })
  const body = assertProblem(res, 422, 'UNKNOWN_CATEGORY')
  assert.ok(
    body.errors?.some((e) => e.field === 'parentId'),
    'errors name parentId'
  )
  assert.deepEqual(await snapshot(app), before)
  assert.deepEqual(await row(app, c.id), { parent_id: parent.id, version: 1, name: 'Child', slug: 'child' })
})

test('when a category would be moved under itself or any of its descendants, then 409 CATEGORY_CYCLE, and nothing changes', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  // A > B > C, and D beside A
  const a = await make(app, editor, { name: 'A' })
  const b = await make(app, editor, { name: 'B', parentId: a.id })
  const c = await make(app, editor, { name: 'C', parentId: b.id })
  const cases: [string, number, number][] = [
    ['A under itself', a.id, a.id],
    ['A under its child B', a.id, b.id],
    ['A under its grandchild C', a.id, c.id],
    ['B under itself', b.id, b.id],
    ['B under its child C', b.id, c.id],
    ['C under itself', c.id, c.id]
  ]
  for (const [label, id, parentId] of cases) {
    await t.test(label, async () => {
      const before = await snapshot(app)
      assertProblem(await patch(app, editor, id, { parentId }), 409, 'CATEGORY_CYCLE')
      assertProblem(
        await patch(app, editor, id, { parentId, name: 'renamed too' }, { 'if-match': `"${id}.1"` }),
        409,
        'CATEGORY_CYCLE'
      )
      assert.deepEqual(await snapshot(app), before)
    })
  }
  assert.deepEqual(await row(app, a.id), { parent_id: null, version: 1, name: 'A', slug: 'a' })
  assert.deepEqual(await row(app, b.id), { parent_id: a.id, version: 1, name: 'B', slug: 'b' })
  assert.deepEqual(await row(app, c.id), { parent_id: b.id, version: 1, name: 'C', slug: 'c' })
  // Moving down the chain the other way is no cycle: C directly under A.
  const legal = await patch(app, editor, c.id, { parentId: a.id })
  assert.equal(legal.statusCode, 200, legal.body)
  assert.equal(legal.json().data.parentId, a.id)
  assert.equal((await app.db.primary.query<{ n: number }>(CYCLE_SQL)).rows[0]!.n, 0)
})

test('when a category is moved with parentId null, then it becomes a root; and it can be moved under another parent', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  const a = await make(app, editor, { name: 'A' })
  const x = await make(app, editor, { name: 'X' })
  const b = await make(app, editor, { name: 'B', parentId: a.id })

  const toRoot = await patch(app, editor, b.id, { parentId: null })
  assert.equal(toRoot.statusCode, 200, toRoot.body)
  assert.equal(toRoot.json().data.parentId, null)
  assert.equal(toRoot.json().data.version, 2)
  assert.deepEqual(await row(app, b.id), { parent_id: null, version: 2, name: 'B', slug: 'b' })
  const roots = await app.inject({ method: 'GET', url: `${BASE}?parentId=${a.id}` })
  assert.deepEqual(roots.json().data, [])

  const under = await patch(app, editor, b.id, { parentId: x.id })
  assert.equal(under.statusCode, 200, under.body)
  assert.equal((await row(app, b.id))!.parent_id, x.id)
  // A former parent may now be moved under its former child.
  const swap = await patch(app, editor, a.id, { parentId: b.id })
  assert.equal(swap.statusCode, 200, swap.body)
  assert.equal((await app.db.primary.query<{ n: number }>(CYCLE_SQL)).rows[0]!.n, 0)
})

test('when parent links form a loop, then the cycle query these tests rely on counts it', async (t) => {
  // Guards the CYCLE_SQL assertion below against passing vacuously.
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  const a = await make(app, editor, { name: 'A' })
  const b = await make(app, editor, { name: 'B', parentId: a.id })
  const client = await app.db.primary.connect()
  try {
    await client.query('BEGIN')
    await client.query('UPDATE categories SET parent_id = $1 WHERE id = $2', [b.id, a.id])
    assert.equal((await client.query<{ n: number }>(CYCLE_SQL)).rows[0]!.n, 2)
  } finally {
    await client.query('ROLLBACK')
    client.release()
  }
  assert.equal((await app.db.primary.query<{ n: number }>(CYCLE_SQL)).rows[0]!.n, 0)
})

test('when two siblings are moved under each other at the same time, then never both succeed and no cycle is created', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  const admin = await apiKey(app, 'admin')
  for (let round = 0; round < 8; round++) {
    const p = await make(app, editor, { name: `P ${round}` })
    const a = await make(app, editor, { name: `A ${round}`, parentId: p.id })
    const b = await make(app, admin, { name: `B ${round}`, parentId: p.id })
    const [ra, rb] = await Promise.all([
      patch(app, editor, a.id, { parentId: b.id }),
      patch(app, admin, b.id, { parentId: a.id })
    ])
    const statuses = [ra.statusCode, rb.statusCode].sort()
    assert.deepEqual(statuses, [200, 409], `round ${round}: exactly one move wins (${ra.body} / ${rb.body})`)
    const loser = ra.statusCode === 409 ? ra : rb
    assertProblem(loser, 409, 'CATEGORY_CYCLE')
    const [rowA, rowB] = [await row(app, a.id), await row(app, b.id)]
    if (ra.statusCode === 200) {
      assert.deepEqual([rowA!.parent_id, rowA!.version, rowB!.parent_id, rowB!.version], [b.id, 2, p.id, 1])
    } else {
      assert.deepEqual([rowA!.parent_id, rowA!.version, rowB!.parent_id, rowB!.version], [p.id, 1, a.id, 2])
    }
    assert.equal((await app.db.primary.query<{ n: number }>(CYCLE_SQL)).rows[0]!.n, 0, `round ${round}: no cycle`)
  }
})

test('when three siblings are moved into a ring at the same time, then at most two moves succeed and no cycle is created', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  for (let round = 0; round < 5; round++) {
    const a = await make(app, editor, { name: `Ring A ${round}` })
    const b = await make(app, editor, { name: `Ring B ${round}` })
    const c = await make(app, editor, { name: `Ring C ${round}` })
    const results = await Promise.all([
      patch(app, editor, a.id, { parentId: b.id }),
      patch(app, editor, b.id, { parentId: c.id }),
      patch(app, editor, c.id, { parentId: a.id })
    ])
    const ok = results.filter((r) => r.statusCode === 200)
    const refused = results.filter((r) => r.statusCode !== 200)
    assert.equal(ok.length, 2, `round ${round}: ${results.map((r) => r.statusCode).join(',')}`)
    assert.equal(refused.length, 1)
    assertProblem(refused[0]!, 409, 'CATEGORY_CYCLE')
    assert.equal((await app.db.primary.query<{ n: number }>(CYCLE_SQL)).rows[0]!.n, 0, `round ${round}: no cycle`)
  }
})

// ─── delete ─────────────────────────────────────────────────────────────────────────────────────────

test('when an admin deletes an empty category, then 204 without a body and the category is gone', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  const keep = await make(app, admin, { name: 'Keep' })
  const c = await make(app, admin, { name: 'Disposable', parentId: keep.id })
  const before = await count(app, 'categories')
  const res = await del(app, bearer(admin), c.id)
  assert.equal(res.statusCode, 204)
  assert.equal(res.body, '')
  assert.equal(await count(app, 'categories'), before - 1)
  assert.equal(await row(app, c.id), undefined)
  assertProblem(await app.inject({ method: 'GET', url: `${BASE}/${c.id}` }), 404, 'CATEGORY_NOT_FOUND')
  assertProblem(await del(app, bearer(admin), c.id), 404, 'CATEGORY_NOT_FOUND')
  assert.ok(await row(app, keep.id), 'the parent is untouched')
})

test('when an editor deletes a category, then 403 FORBIDDEN, and the category remains', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  const c = await make(app, editor, { name: 'Protected' })
  const before = await snapshot(app)
  const res = await del(app, bearer(editor), c.id)
  assertProblem(res, 403, 'FORBIDDEN')
  assert.deepEqual(await snapshot(app), before)
  // 403 comes from the role, not from the category: also for one that does not exist.
  assertProblem(await del(app, bearer(editor), 999_999), 403, 'FORBIDDEN')
})

test('when a category is deleted without a valid API key, then 401 with WWW-Authenticate: Bearer, and it remains', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  const c = await make(app, admin, { name: 'Protected' })
  const before = await snapshot(app)
  assertUnauthorized(await del(app, {}, c.id))
  assertUnauthorized(await del(app, bearer(unknownKey()), c.id), 'invalid_token')
  assertUnauthorized(await del(app, { authorization: admin }, c.id), 'invalid_request')
  assert.deepEqual(await snapshot(app), before)
})

test('when a category that does not exist is deleted, then 404 CATEGORY_NOT_FOUND; a malformed id gives 400', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  await make(app, admin, { name: 'Bystander' })
  const before = await snapshot(app)
  assertProblem(await del(app, bearer(admin), 999_999), 404, 'CATEGORY_NOT_FOUND')
  assertValidation(await app.inject({ method: 'DELETE', url: `${BASE}/abc`, headers: bearer(admin) }), 'id')
  assert.deepEqual(await snapshot(app), before)
})

test('when a category with products is deleted, then 409 CATEGORY_NOT_EMPTY; once empty it can be deleted', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  const c = await make(app, admin, { name: 'Stocked' })
  const product = await insertProduct(app, c.id)
  const before = await snapshot(app)
  const res = await del(app, bearer(admin), c.id)
  const body = assertProblem(res, 409, 'CATEGORY_NOT_EMPTY')
  assert.match(body.detail, new RegExp(String(c.id)))
  assert.deepEqual(await snapshot(app), before)

  await app.db.primary.query('DELETE FROM products WHERE id = $1', [product])
  assert.equal((await del(app, bearer(admin), c.id)).statusCode, 204)
  assert.equal(await row(app, c.id), undefined)
})

test('when a seeded leaf category with products is deleted, then 409 CATEGORY_NOT_EMPTY, and nothing is written', async (t) => {
  const app = await build(t)
  await seed(app, 100)
  const admin = await apiKey(app, 'admin')
  const { rows } = await app.db.primary.query<{ id: number }>(
    `SELECT c.id FROM categories c
      WHERE EXISTS (SELECT 1 FROM products p WHERE p.category_id = c.id)
        AND NOT EXISTS (SELECT 1 FROM categories k WHERE k.parent_id = c.id)
      ORDER BY c.id LIMIT 1`
  )
  const leaf = rows[0]!.id
  const before = await snapshot(app)
  assertProblem(await del(app, bearer(admin), leaf), 409, 'CATEGORY_NOT_EMPTY')
  assert.deepEqual(await snapshot(app), before)
})

test('when a category with child categories is deleted, then 409 CATEGORY_NOT_EMPTY; after the child is gone, 204', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  const parent = await make(app, admin, { name: 'Parent' })
  const child = await make(app, admin, { name: 'Child', parentId: parent.id })
  const before = await snapshot(app)
  assertProblem(await del(app, bearer(admin), parent.id), 409, 'CATEGORY_NOT_EMPTY')
  assert.deepEqual(await snapshot(app), before)

  assert.equal((await del(app, bearer(admin), child.id)).statusCode, 204)
  assert.equal((await del(app, bearer(admin), parent.id)).statusCode, 204)
  assert.equal(await count(app, 'categories'), 0)
})

test('when DELETE carries a stale If-Match, then 412 and the category remains; with the current one, 204', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  const c = await make(app, admin, { name: 'Versioned' })
  assert.equal((await patch(app, admin, c.id, { description: 'v2' })).statusCode, 200)
  const before = await snapshot(app)
  assertProblem(await del(app, { ...bearer(admin), 'if-match': `"${c.id}.1"` }, c.id), 412, 'PRECONDITION_FAILED')
  assert.deepEqual(await snapshot(app), before)
  assert.equal((await del(app, { ...bearer(admin), 'if-match': `"${c.id}.2"` }, c.id)).statusCode, 204)
  assert.equal(await row(app, c.id), undefined)
})

test('when categories are named without ASCII letters, then each gets its own slug; a blank name is refused', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const first = await app.inject({ method: 'POST', url: BASE, headers: bearer(key), payload: { name: '日本' } })
  const second = await app.inject({ method: 'POST', url: BASE, headers: bearer(key), payload: { name: '日本' } })
  assert.equal(first.statusCode, 201, first.body)
  assert.equal(second.statusCode, 201, second.body)
  assert.notEqual(first.json().data.slug, second.json().data.slug)
  const blank = await app.inject({ method: 'POST', url: BASE, headers: bearer(key), payload: { name: '   ' } })
  const body = assertProblem(blank, 400, 'VALIDATION_FAILED')
  assert.deepEqual(
    body.errors?.map((e) => e.field),
    ['name']
  )
})
