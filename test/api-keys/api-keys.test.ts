import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { test } from 'node:test'
import type { LightMyRequestResponse } from 'fastify'
import { type TestApp, apiKey, bearer, build, count, assertProblem } from '../helper.js'

const BASE = '/api/v1/api-keys'

function assertUnauthorized(res: LightMyRequestResponse, error?: string) {
  assertProblem(res, 401, 'UNAUTHORIZED')
  const challenge = String(res.headers['www-authenticate'] ?? '')
  assert.match(challenge, /^Bearer /)
  if (error) assert.ok(challenge.includes(`error="${error}"`), challenge)
}

interface CreatedKey {
  id: number
  name: string
  role: 'admin' | 'editor'
  prefix: string
  createdAt: string
  lastUsedAt: string | null
  revokedAt: string | null
  key: string
}

async function createKey(app: TestApp, admin: string, body: { name: string; role: string }): Promise<CreatedKey> {
  const res = await app.inject({ method: 'POST', url: BASE, headers: bearer(admin), payload: body })
  assert.equal(res.statusCode, 201, res.body)
  assert.equal(res.json().success, true)
  return res.json().data
}

const writeCategory = (app: TestApp, key: string, name: string) =>
  app.inject({ method: 'POST', url: '/api/v1/categories', headers: bearer(key), payload: { name } })

async function keyRow(app: TestApp, id: number) {
  const { rows } = await app.db.primary.query<{ revoked_at: Date | null; key_hash: Buffer }>(
    'SELECT revoked_at, key_hash FROM api_keys WHERE id = $1',
    [id]
  )
  return rows[0]
}

test('when an admin creates an API key, then 201 shows the key once and the key works for a write', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  const before = await count(app, 'api_keys')
  const created = await createKey(app, admin, { name: 'ci pipeline', role: 'editor' })
  assert.equal(await count(app, 'api_keys'), before + 1)
  assert.deepEqual(Object.keys(created).sort(), [
    'createdAt',
    'id',
    'key',
    'lastUsedAt',
    'name',
    'prefix',
    'revokedAt',
    'role'
  ])
  assert.equal(created.name, 'ci pipeline')
  assert.equal(created.role, 'editor')
  assert.equal(created.revokedAt, null)
  assert.equal(typeof created.key, 'string')
  assert.ok(created.key.length >= 32, 'the key carries enough entropy')
  assert.ok(
    created.key.startsWith(created.prefix) && created.prefix.length < created.key.length,
    'prefix is a proper prefix of the key'
  )

  const write = await writeCategory(app, created.key, 'Made with a new key')
  assert.equal(write.statusCode, 201, write.body)
  // An editor key is no admin key.
  assertProblem(await app.inject({ method: 'GET', url: BASE, headers: bearer(created.key) }), 403, 'FORBIDDEN')

  // Each creation gives a new, different key.
  const second = await createKey(app, admin, { name: 'ci pipeline', role: 'editor' })
  assert.notEqual(second.key, created.key)
  assert.notEqual(second.id, created.id)
})

test('when an admin creates an admin key, then that key can manage API keys', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  const created = await createKey(app, admin, { name: 'second admin', role: 'admin' })
  assert.equal(created.role, 'admin')
  const list = await app.inject({ method: 'GET', url: BASE, headers: bearer(created.key) })
  assert.equal(list.statusCode, 200, list.body)
  assert.ok(
    list.json().data.some((k: { id: number }) => k.id === created.id),
    'the new admin key sees itself listed'
  )
})

test('when API keys are listed, then metadata is shown but never a key or its hash', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  const editor = await createKey(app, admin, { name: 'editor one', role: 'editor' })
  const other = await createKey(app, admin, { name: 'admin two', role: 'admin' })
  const res = await app.inject({ method: 'GET', url: BASE, headers: bearer(admin) })
  assert.equal(res.statusCode, 200)
  const body = res.json()
  assert.equal(body.success, true)
  assert.equal(body.data.length, 3)
  assert.deepEqual(
    body.data.map((k: { name: string; role: string }) => [k.name, k.role]),
    [
      ['test-admin', 'admin'],
      ['editor one', 'editor'],
      ['admin two', 'admin']
    ]
  )
  for (const item of body.data) {
    assert.deepEqual(Object.keys(item).sort(), ['createdAt', 'id', 'lastUsedAt', 'name', 'prefix', 'revokedAt', 'role'])
  }
  for (const key of [admin, editor.key, other.key]) {
    assert.ok(!res.body.includes(key), 'the key is not in the list')
    const hash = createHash('sha256').update(key).digest()
    for (const encoding of ['hex', 'base64', 'base64url'] as const) {
      assert.ok(!res.body.includes(hash.toString(encoding)), `its ${encoding} hash is not in the list`)
    }
  }
})

test('when an API key is revoked, then it gets 401 on a write while other keys keep working', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  const doomed = await createKey(app, admin, { name: 'doomed', role: 'editor' })
  const survivor = await createKey(app, admin, { name: 'survivor', role: 'editor' })
  assert.equal((await writeCategory(app, doomed.key, 'Before revocation')).statusCode, 201)

  const res = await app.inject({ method: 'DELETE', url: `${BASE}/${doomed.id}`, headers: bearer(admin) })
  assert.equal(res.statusCode, 200, res.body)
  const revoked = res.json().data
  assert.equal(revoked.id, doomed.id)
  assert.equal(typeof revoked.revokedAt, 'string')
  assert.ok(!Number.isNaN(Date.parse(revoked.revokedAt)), 'revokedAt is a date')
  assert.equal(revoked.key, undefined)
  assert.ok((await keyRow(app, doomed.id))!.revoked_at instanceof Date, 'revoked_at is stored')

  const categories = await count(app, 'categories')
  assertUnauthorized(await writeCategory(app, doomed.key, 'After revocation'), 'invalid_token')
  assert.equal(await count(app, 'categories'), categories)
  assert.equal((await writeCategory(app, survivor.key, 'Survivor writes')).statusCode, 201)

  const list = await app.inject({ method: 'GET', url: BASE, headers: bearer(admin) })
  const listed = list.json().data.find((k: { id: number }) => k.id === doomed.id)
  assert.equal(listed.revokedAt, revoked.revokedAt)
  assert.equal(list.json().data.find((k: { id: number }) => k.id === survivor.id).revokedAt, null)

  // Revoking again keeps the first revocation time.
  const again = await app.inject({ method: 'DELETE', url: `${BASE}/${doomed.id}`, headers: bearer(admin) })
  assert.equal(again.statusCode, 200)
  assert.equal(again.json().data.revokedAt, revoked.revokedAt)
})

test('when an admin key is revoked, then it can no longer manage API keys', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  const other = await createKey(app, admin, { name: 'other admin', role: 'admin' })
  assert.equal(
    (await app.inject({ method: 'DELETE', url: `${BASE}/${other.id}`, headers: bearer(admin) })).statusCode,
    200
  )
  const before = await count(app, 'api_keys')
  assertUnauthorized(await app.inject({ method: 'GET', url: BASE, headers: bearer(other.key) }), 'invalid_token')
  assertUnauthorized(
    await app.inject({ method: 'POST', url: BASE, headers: bearer(other.key), payload: { name: 'x', role: 'admin' } }),
    'invalid_token'
  )
  assert.equal(await count(app, 'api_keys'), before)
})

test('when a key that does not exist is revoked, then 404 API_KEY_NOT_FOUND; a malformed id gives 400', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  assertProblem(
    await app.inject({ method: 'DELETE', url: `${BASE}/999999`, headers: bearer(admin) }),
    404,
    'API_KEY_NOT_FOUND'
  )
  const bad = assertProblem(
    await app.inject({ method: 'DELETE', url: `${BASE}/abc`, headers: bearer(admin) }),
    400,
    'VALIDATION_FAILED'
  )
  assert.ok(
    bad.errors?.some((e) => e.field === 'id'),
    'errors name id'
  )
  const { rows } = await app.db.primary.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM api_keys WHERE revoked_at IS NOT NULL'
  )
  assert.equal(rows[0]!.n, 0)
})

test('when an editor calls the API key endpoints, then 403 FORBIDDEN on all three, and nothing is written', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  const editor = await apiKey(app, 'editor')
  const target = await createKey(app, admin, { name: 'target', role: 'editor' })
  const before = await count(app, 'api_keys')

  assertProblem(await app.inject({ method: 'GET', url: BASE, headers: bearer(editor) }), 403, 'FORBIDDEN')
  assertProblem(
    await app.inject({
      method: 'POST',
      url: BASE,
      headers: bearer(editor),
      payload: { name: 'escalate', role: 'admin' }
    }),
    403,
    'FORBIDDEN'
  )
  assertProblem(
    await app.inject({ method: 'DELETE', url: `${BASE}/${target.id}`, headers: bearer(editor) }),
    403,
    'FORBIDDEN'
  )

  assert.equal(await count(app, 'api_keys'), before)
  assert.equal((await keyRow(app, target.id))!.revoked_at, null)
  assert.equal((await writeCategory(app, target.key, 'Still works')).statusCode, 201)
})

test('when the API key endpoints are called without a valid key, then 401 with WWW-Authenticate: Bearer, and nothing is written', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  const target = await createKey(app, admin, { name: 'target', role: 'editor' })
  const before = await count(app, 'api_keys')
  const unknown = `ck_${randomBytes(32).toString('base64url')}`
  for (const [headers, error] of [
    [{}, undefined],
    [bearer(unknown), 'invalid_token'],
    [{ authorization: `Basic ${Buffer.from(`admin:${admin}`).toString('base64')}` }, 'invalid_request']
  ] as [Record<string, string>, string | undefined][]) {
    assertUnauthorized(await app.inject({ method: 'GET', url: BASE, headers }), error)
    assertUnauthorized(
      await app.inject({ method: 'POST', url: BASE, headers, payload: { name: 'sneaky', role: 'admin' } }),
      error
    )
    assertUnauthorized(await app.inject({ method: 'DELETE', url: `${BASE}/${target.id}`, headers }), error)
  }
  assert.equal(await count(app, 'api_keys'), before)
  assert.equal((await keyRow(app, target.id))!.revoked_at, null)
})

test('when the create-key body is invalid, then 400 naming the field, and no key is created', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  const cases: [string, unknown, string][] = [
    ['missing role', { name: 'x' }, 'role'],
    ['missing name', { role: 'editor' }, 'name'],
    ['unknown role', { name: 'x', role: 'superuser' }, 'role'],
    ['unknown field', { name: 'x', role: 'editor', key: 'ck_chosen-by-client' }, 'key'],
    ['empty name', { name: '', role: 'editor' }, 'name'],
    ['name too long', { name: 'n'.repeat(101), role: 'editor' }, 'name'],
    ['name is a number', { name: 5, role: 'editor' }, 'name'],
    ['NUL in name', { name: 'a\u0000b', role: 'editor' }, 'name']
  ]
  for (const [label, payload, field] of cases) {
    await t.test(label, async () => {
      const before = await count(app, 'api_keys')
      const res = await app.inject({ method: 'POST', url: BASE, headers: bearer(admin), payload: payload as object })
      const body = assertProblem(res, 400, 'VALIDATION_FAILED')
      assert.ok(
        body.errors?.some((e) => e.field === field),
        `errors name ${field}: ${res.body}`
      )
      assert.equal(await count(app, 'api_keys'), before)
    })
  }
})

test('when a key is created, then the database stores only its 32-byte SHA-256 and no column or table holds the key', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  const created = await createKey(app, admin, { name: 'stored safely', role: 'editor' })
  // Use it once, so anything recorded on use is covered too.
  assert.equal((await writeCategory(app, created.key, 'Used once')).statusCode, 201)

  const { rows } = await app.db.primary.query<{ key_hash: Buffer; key_prefix: string }>(
    'SELECT key_hash, key_prefix FROM api_keys WHERE id = $1',
    [created.id]
  )
  const stored = rows[0]!
  assert.ok(Buffer.isBuffer(stored.key_hash), 'key_hash is bytea')
  assert.equal(stored.key_hash.length, 32)
  assert.deepEqual(stored.key_hash, createHash('sha256').update(created.key, 'utf8').digest())
  assert.ok(stored.key_prefix.length < created.key.length, 'key_prefix is shorter than the key')

  // Every column of every api_keys row, as text.
  const { rows: cells } = await app.db.primary.query<{ id: number; column: string; value: string | null }>(
    'SELECT k.id, e.key AS column, e.value FROM api_keys k, jsonb_each_text(to_jsonb(k)) e'
  )
  assert.ok(cells.length >= 16, 'the scan saw the rows')
  for (const key of [created.key, admin]) {
    for (const cell of cells) {
      assert.ok(!(cell.value ?? '').includes(key), `api_keys.${cell.column} of key ${cell.id} holds a key`)
    }
  }
  // Nor any other table.
  const { rows: tables } = await app.db.primary.query<{ name: string }>(
    "SELECT quote_ident(table_name) AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
  )
  assert.ok(
    tables.some((tb) => tb.name === 'api_keys'),
    'the table scan includes api_keys'
  )
  for (const { name } of tables) {
    const hit = await app.db.primary.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${name} x WHERE strpos(x::text, $1) > 0`,
      [created.key]
    )
    assert.equal(hit.rows[0]!.n, 0, `table ${name} holds the key`)
  }
  // The scan itself can see text: the key's prefix is found in api_keys.
  const prefix = await app.db.primary.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM api_keys x WHERE strpos(x::text, $1) > 0',
    [created.prefix]
  )
  assert.equal(prefix.rows[0]!.n, 1)
})

test('when API keys are listed, then they come a page at a time with a cursor and Link, and unknown parameters are refused', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  for (let i = 0; i < 4; i++) await createKey(app, admin, { name: `key ${i}`, role: 'editor' })
  const total = await count(app, 'api_keys')
  const seen: number[] = []
  let url = `${BASE}?limit=2`
  for (let page = 0; page < 10; page++) {
    const res = await app.inject({ method: 'GET', url, headers: bearer(admin) })
    assert.equal(res.statusCode, 200, res.body)
    const body = res.json()
    assert.ok(body.data.length <= 2)
    seen.push(...body.data.map((k: { id: number }) => k.id))
    if (!body.pagination.hasMore) {
      assert.equal(res.headers.link, undefined)
      break
    }
    assert.equal(res.headers.link, `<${BASE}?limit=2&cursor=${body.pagination.cursor}>; rel="next"`)
    url = `${BASE}?limit=2&cursor=${encodeURIComponent(body.pagination.cursor)}`
  }
  assert.equal(seen.length, total, 'every key once')
  assert.deepEqual(
    seen,
    [...seen].sort((a, b) => a - b),
    'oldest first'
  )
  const unknown = await app.inject({ method: 'GET', url: `${BASE}?role=admin`, headers: bearer(admin) })
  assert.deepEqual(
    assertProblem(unknown, 400, 'VALIDATION_FAILED').errors?.map((e) => e.field),
    ['role']
  )
  assertProblem(
    await app.inject({ method: 'GET', url: `${BASE}?cursor=forged.cursor`, headers: bearer(admin) }),
    400,
    'INVALID_CURSOR'
  )
  const first = await app.inject({ method: 'GET', url: BASE, headers: bearer(admin) })
  assert.equal(first.json().data.length, Math.min(total, 20), 'the default page is 20')
})
