// The export's lines are made by PostgreSQL and sent by one COPY (the CSV formats are written from them as they arrive):
// their bytes, their filters, their connection.
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { test } from 'node:test'
import { apiKey, bearer, build, defer, seed, type TestApp } from '../helper.js'

const EXPORT = '/api/v1/exports/products'

const lines = (body: string) => body.split('\n').filter(Boolean)

/** The bytes of `data` in a GET /products/:id answer: the API's own writing of the product. */
async function productBytes(app: TestApp, key: string, id: number): Promise<string> {
  const res = await app.inject({ url: `/api/v1/products/${id}`, headers: bearer(key) })
  assert.equal(res.statusCode, 200, res.body)
  const head = '{"success":true,"data":'
  assert.ok(res.body.startsWith(head) && res.body.endsWith('}'), res.body.slice(0, 80))
  return res.body.slice(head.length, -1)
}

/** Every id GET /products lists with `filters`, page after page. */
async function listedIds(app: TestApp, key: string, filters: string): Promise<number[]> {
  const ids: number[] = []
  let cursor: string | null = null
  do {
    const query: string = `${filters}&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`
    const res = await app.inject({ url: `/api/v1/products?${query}`, headers: bearer(key) })
    assert.equal(res.statusCode, 200, res.body)
    const body = res.json()
    ids.push(...body.data.map((p: { id: number }) => p.id))
    cursor = body.pagination.cursor
  } while (cursor)
  return ids.sort((a, b) => a - b)
}

test('when products hold quotes, backslashes, newlines, tabs, control characters and unicode, then each NDJSON line is byte for byte the API’s product', async (t) => {
  const app = await build(t)
  const key = await apiKey(app, 'editor')
  const nasty =
    'He said "hi" \\ back\\slash\nnew line\r\ttab \u0001\u001f\u007f é 漢字 😀 \u2028\u2029 </script> , : ; {"x": 1}'
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/products',
    headers: bearer(key),
    payload: {
      name: 'Odd "name", with: \\ and 😀',
      slug: 'odd-product',
      description: nasty,
      tags: ['a-b', 'c'],
      options: [{ name: 'Size, "EU"', values: ['S, M', 'L: "large"', '\\x'] }],
      variants: [
        {
          sku: 'ODD-1',
          title: 'Title\twith tab',
          optionValues: ['S, M'],
          prices: [
            { currency: 'EUR', amountCents: 1999 },
            { currency: 'USD', amountCents: 2199 }
          ],
          compareAtPrices: [{ currency: 'USD', amountCents: 2999 }],
          barcode: 'ABC-1',
          weightGrams: 120
        },
        { sku: 'ODD-2', optionValues: ['L: "large"'], prices: [{ currency: 'JPY', amountCents: 500 }] },
        {
          sku: 'ODD-3',
          optionValues: ['\\x'],
          prices: [
            { currency: 'USD', amountCents: 999 },
            { currency: 'EUR', amountCents: 3999 }
          ]
        }
      ],
      media: [
        { url: 'https://cdn.example.com/a.jpg', alt: nasty, width: 10, height: 20 },
        { url: 'https://cdn.example.com/b.jpg?x="y"' }
      ]
    }
  })
  assert.equal(res.statusCode, 201, res.body)
  const id = res.json().data.id
  const exported = await app.inject({ url: EXPORT, headers: bearer(key) })
  assert.equal(exported.statusCode, 200, exported.body)
  assert.ok(exported.body.endsWith('\n'))
  const [line] = lines(exported.body)
  assert.equal(line, await productBytes(app, key, id))
  const product = JSON.parse(line ?? '')
  assert.equal(product.description, nasty)
  assert.deepEqual(Object.keys(product.priceRange), ['EUR', 'USD', 'JPY'], 'currencies in the order variants have them')
})

test('when the demo catalog is exported, then every line is byte for byte its GET /products/:id', async (t) => {
  const app = await build(t)
  await seed(app, 40)
  const key = await apiKey(app, 'editor')
  const exported = lines((await app.inject({ url: EXPORT, headers: bearer(key) })).body)
  assert.equal(exported.length, 40)
  for (const line of exported) assert.equal(line, await productBytes(app, key, JSON.parse(line).id))
})

test('when the export is filtered, then it writes exactly the products GET /products lists with the same filters', async (t) => {
  const app = await build(t)
  await seed(app, 120)
  const key = await apiKey(app, 'admin')
  const all = lines((await app.inject({ url: EXPORT, headers: bearer(key) })).body).map((l) => JSON.parse(l))
  const sku = all[7].variants[1].sku
  const tag = all[3].tags[0]
  const category = all[5].categoryId
  const word = all[11].name.split(' ')[1]
  const filters = [
    'status=active',
    'status=draft',
    `categoryId=${category}`,
    `categoryId=${category}&includeDescendants=true`,
    `tag=${tag}`,
    `sku=${sku}`,
    'hasStock=true',
    'hasStock=false',
    `q=${encodeURIComponent(word)}`,
    `q=${sku}`,
    'currency=USD&minPrice=20000&maxPrice=60000',
    'currency=EUR&maxPrice=30000&status=active',
    `status=active&tag=${tag}&hasStock=true`
  ]
  for (const filter of filters) {
    const res = await app.inject({ url: `${EXPORT}?${filter}`, headers: bearer(key) })
    assert.equal(res.statusCode, 200, res.body)
    const exported = lines(res.body).map((l) => JSON.parse(l).id)
    assert.deepEqual(
      exported,
      [...exported].sort((a, b) => a - b),
      `${filter}: in id order`
    )
    assert.deepEqual(exported, await listedIds(app, key, filter), filter)
  }
})

test('when an export lasts longer than the database timeouts of a request, then it still completes', async (t) => {
  const seeded = await build(t)
  await seed(seeded, 3000)
  const key = await apiKey(seeded, 'editor')
  const app = await build(t, { DB_QUERY_TIMEOUT: '100', DB_STATEMENT_TIMEOUT: '100' }, seeded.target)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  // A client reading slowly keeps the COPY waiting past both timeouts.
  const body = await new Promise<string>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: EXPORT, headers: bearer(key) }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        text += chunk
        res.pause()
        setTimeout(() => res.resume(), 1)
      })
      res.on('end', () => resolve(text))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
  assert.equal(lines(body).length, 3000)
  // Past the timeouts once more: no late read timeout from the finished COPY.
  await new Promise((resolve) => setTimeout(resolve, 300))
  const health = await app.inject({ url: EXPORT, headers: bearer(key) })
  assert.equal(lines(health.body).length, 3000)
})

/** Backends of the app's database running the export's COPY. */
async function copies(app: TestApp): Promise<{ state: string; wait: string | null }[]> {
  const { rows } = await app.db.primary.query<{ state: string; wait: string | null }>(
    `SELECT state, wait_event AS wait FROM pg_stat_activity
      WHERE datname = current_database() AND query LIKE 'COPY (SELECT%' AND pid <> pg_backend_pid()`
  )
  return rows
}

/** An export of 20,000 demo products over a real connection, answered (its body not yet read). */
async function openExport(t: Parameters<typeof build>[0], env: Record<string, string> = {}, path = EXPORT) {
  const app = await build(t, env)
  await seed(app, 20_000)
  const key = await apiKey(app, 'editor')
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const req = request({ host: '127.0.0.1', port, path, headers: bearer(key) })
  defer(t, () => req.destroy())
  const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    req.on('response', resolve).on('error', () => {})
    setTimeout(() => reject(new Error('no answer')), 10_000).unref()
    req.end()
  })
  res.on('error', () => {})
  return { app, key, req, res }
}

for (const format of ['ndjson', 'shopify-csv']) {
  test(`when the client of a ${format} export reads slowly and then disconnects, then the COPY waits for it, stops, and its connection is closed`, async (t) => {
    await slowClientGone(t, `${EXPORT}?format=${format}`)
  })
}

async function slowClientGone(t: Parameters<typeof build>[0], path: string) {
  const { app, key, req, res } = await openExport(t, {}, path)
  const pool = app.db.primary
  let received = 0
  res.once('data', (chunk: Buffer) => {
    received += chunk.length
    res.pause()
  })
  // Paused: the COPY waits on the client (the server's buffers are full), it does not run ahead into memory.
  let waiting: { state: string; wait: string | null }[] = []
  for (let i = 0; i < 300; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    waiting = await copies(app)
    if (waiting[0]?.wait === 'ClientWrite') break
  }
  assert.deepEqual(waiting, [{ state: 'active', wait: 'ClientWrite' }])
  // The export's own server process: a connection returned to the pool would keep it (idle), a closed one ends it.
  const { rows: held } = await pool.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY (SELECT%'`
  )
  assert.equal(held.length, 1)
  const backend = held[0]?.pid
  assert.ok(received < 20_000 * 1000, `${received} bytes arrived before the client read on`)
  req.destroy()
  let left: Awaited<ReturnType<typeof copies>> = waiting
  for (let i = 0; i < 300 && left.length; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    left = await copies(app)
  }
  assert.deepEqual(left, [], 'the COPY stopped')
  const alive = async () => (await pool.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [backend])).rowCount
  for (let i = 0; i < 100 && (await alive()); i++) await new Promise((resolve) => setTimeout(resolve, 50))
  assert.equal(await alive(), 0, 'the export’s connection was closed, not returned to the pool')
  const again = await app.inject({ url: `${EXPORT}?sku=DEMO-0000001-S`, headers: bearer(key) })
  assert.equal(lines(again.body).length, 1)
}

test('when the client stops reading and stays connected, then after EXPORT_IDLE_TIMEOUT_MS the export is cut off and its COPY ends', async (t) => {
  const { app, req, res } = await openExport(t, { EXPORT_IDLE_TIMEOUT_MS: '500' })
  res.once('data', () => res.pause())
  // Paused and never destroyed by the client: the server closes the connection, which ends the COPY.
  let waiting: Awaited<ReturnType<typeof copies>> = []
  for (let i = 0; i < 300 && waiting.length === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    waiting = await copies(app)
  }
  assert.equal(waiting.length, 1, 'the COPY ran')
  let left = waiting
  for (let i = 0; i < 300 && left.length; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    left = await copies(app)
  }
  assert.deepEqual(left, [], 'the COPY stopped while the client stayed connected')
  assert.equal(req.destroyed, false, 'the client never gave up')
})

test('when the export finds its first rows later than EXPORT_IDLE_TIMEOUT_MS, then it is not cut off: the silence is the server’s, not the client’s', async (t) => {
  const app = await build(t, { EXPORT_IDLE_TIMEOUT_MS: '1000' })
  await seed(app, 500)
  const key = await apiKey(app, 'editor')
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  // Another transaction holds the products table: the export's COPY waits for it, writing nothing, past the timeout.
  const locker = await app.db.primary.connect()
  defer(t, () => locker.release(true)) // closed, not pooled: if the test fails first, its lock ends with it
  await locker.query('BEGIN')
  await locker.query('LOCK TABLE products IN ACCESS EXCLUSIVE MODE')
  const answer = new Promise<{ status: number | undefined; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: EXPORT, headers: bearer(key) }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode, body }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
  let waiting: Awaited<ReturnType<typeof copies>> = []
  for (let i = 0; i < 300 && waiting[0]?.wait !== 'relation'; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    waiting = await copies(app)
  }
  assert.deepEqual(waiting, [{ state: 'active', wait: 'relation' }], 'the COPY waits for the lock')
  await new Promise((resolve) => setTimeout(resolve, 2500))
  await locker.query('COMMIT')
  const { status, body } = await answer
  assert.equal(status, 200)
  assert.equal(lines(body).length, 500)
})
