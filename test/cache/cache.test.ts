// The same cache suite against the in-process backend and the real Redis.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { ReadContext } from '../../src/db/read-context.js'
import type { Cache, GetOptions, Loader } from '../../src/cache/cache.js'
import { apiKey, bearer, build, type TestApp } from '../helper.js'
import { backendTest, sleep } from '../redis-helper.js'

const read = (cache: Cache, key: string, loader: Loader, options: GetOptions) =>
  cache.getView(key, loader, options, (value) => value)

async function createProduct(app: TestApp, key: string, sku: string, categoryId?: number) {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/products',
    headers: bearer(key),
    payload: {
      sku,
      name: `Product ${sku}`,
      priceCents: 1000,
      currency: 'EUR',
      status: 'active',
      ...(categoryId ? { categoryId } : {})
    }
  })
  assert.equal(res.statusCode, 201, res.body)
  return res.json().data as { id: number; name: string }
}

const metric = async (app: TestApp, name: string, cache: string) => {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
  const line = text.split('\n').find((l) => l.startsWith(`${name}{cache="${cache}"}`))
  return line ? Number(line.split(' ')[1]) : 0
}

for (const backend of ['memory', 'redis'] as const) {
  backendTest(
    backend,
    'when a product is read twice, then the second answer is the stored bytes and headers, not a new query',
    async (t, env) => {
      const app = await build(t, env)
      const key = await apiKey(app)
      const product = await createProduct(app, key, 'CACHE-1')
      const first = await app.inject({ method: 'GET', url: `/api/v1/products/${product.id}` })
      // Changed behind the API's back: only a cache hit still answers the old name.
      await app.db.primary.query("UPDATE products SET name = 'changed in the database' WHERE id = $1", [product.id])
      const second = await app.inject({ method: 'GET', url: `/api/v1/products/${product.id}` })
      assert.equal(second.statusCode, 200)
      assert.equal(second.body, first.body)
      assert.equal(second.headers.etag, first.headers.etag)
      assert.equal(second.headers['content-type'], 'application/json; charset=utf-8')
      assert.equal(await metric(app, 'cache_hits_total', 'product'), 1)
      assert.equal(await metric(app, 'cache_misses_total', 'product'), 1)
      const notModified = await app.inject({
        method: 'GET',
        url: `/api/v1/products/${product.id}`,
        headers: { 'if-none-match': first.headers.etag as string }
      })
      assert.equal(notModified.statusCode, 304)
      assert.equal(notModified.body, '')
    }
  )

  backendTest(
    backend,
    'when a product is changed through the API, then the next read of it and of every list page shows the change',
    async (t, env) => {
      const app = await build(t, env)
      const key = await apiKey(app)
      const product = await createProduct(app, key, 'CACHE-2')
      const pageUrl = '/api/v1/products?limit=5'
      assert.equal(
        (await app.inject({ method: 'GET', url: `/api/v1/products/${product.id}` })).json().data.name,
        'Product CACHE-2'
      )
      assert.equal((await app.inject({ method: 'GET', url: pageUrl })).json().data[0].name, 'Product CACHE-2')
      const patched = await app.inject({
        method: 'PATCH',
        url: `/api/v1/products/${product.id}`,
        headers: bearer(key),
        payload: { name: 'Renamed' }
      })
      assert.equal(patched.statusCode, 200)
      const read = await app.inject({ method: 'GET', url: `/api/v1/products/${product.id}` })
      assert.equal(read.json().data.name, 'Renamed')
      assert.equal(read.headers.etag, patched.headers.etag)
      assert.equal((await app.inject({ method: 'GET', url: pageUrl })).json().data[0].name, 'Renamed')
      // A new product appears on the first page at once; a deleted one is gone at once.
      const added = await createProduct(app, key, 'CACHE-3')
      assert.equal((await app.inject({ method: 'GET', url: pageUrl })).json().data[0].id, added.id)
      const admin = await apiKey(app, 'admin')
      assert.equal(
        (await app.inject({ method: 'DELETE', url: `/api/v1/products/${added.id}`, headers: bearer(admin) }))
          .statusCode,
        204
      )
      assert.equal((await app.inject({ method: 'GET', url: `/api/v1/products/${added.id}` })).statusCode, 404)
      assert.equal((await app.inject({ method: 'GET', url: pageUrl })).json().data[0].id, product.id)
    }
  )

  backendTest(
    backend,
    'when a category is renamed or moved, then its entry, the category lists, trees and category-filtered product lists change at once',
    async (t, env) => {
      const app = await build(t, env)
      const key = await apiKey(app)
      const post = (payload: object) =>
        app.inject({ method: 'POST', url: '/api/v1/categories', headers: bearer(key), payload })
      const root = (await post({ name: 'Root' })).json().data
      const child = (await post({ name: 'Child', parentId: root.id })).json().data
      const other = (await post({ name: 'Other' })).json().data
      await createProduct(app, key, 'CAT-1', child.id)
      const treeUrl = `/api/v1/categories/${child.id}/tree`
      const filtered = `/api/v1/products?categoryId=${root.id}&includeDescendants=true`
      assert.equal((await app.inject({ method: 'GET', url: treeUrl })).json().data.ancestors[0].name, 'Root')
      assert.equal((await app.inject({ method: 'GET', url: filtered })).json().data.length, 1)
      assert.equal(
        (await app.inject({ method: 'GET', url: `/api/v1/categories/${child.id}` })).json().data.name,
        'Child'
      )
      assert.equal((await app.inject({ method: 'GET', url: '/api/v1/categories?limit=10' })).json().data.length, 3)
      const moved = await app.inject({
        method: 'PATCH',
        url: `/api/v1/categories/${child.id}`,
        headers: bearer(key),
        payload: { parentId: other.id, name: 'Moved' }
      })
      assert.equal(moved.statusCode, 200, moved.body)
      assert.equal((await app.inject({ method: 'GET', url: treeUrl })).json().data.ancestors[0].name, 'Other')
      assert.equal((await app.inject({ method: 'GET', url: filtered })).json().data.length, 0)
      assert.equal(
        (await app.inject({ method: 'GET', url: `/api/v1/categories/${child.id}` })).json().data.name,
        'Moved'
      )
      assert.ok(
        (await app.inject({ method: 'GET', url: '/api/v1/categories?limit=10' }))
          .json()
          .data.some((c: { name: string }) => c.name === 'Moved')
      )
    }
  )

  backendTest(
    backend,
    'when many lookups of one key miss at once, then the loader runs once and on the primary',
    async (t, env) => {
      const app = await build(t, env)
      const cache = app.cache!
      let calls = 0
      const loader = async (context: ReadContext) => {
        calls++
        assert.equal(context.forcePrimary, true)
        await sleep(50)
        return `value ${calls}`
      }
      const answers = await Promise.all(
        Array.from({ length: 20 }, () => read(cache, 'sf', loader, { name: 'test', tags: ['t1'] }))
      )
      assert.equal(calls, 1)
      assert.deepEqual(new Set(answers), new Set(['value 1']))
      assert.equal(await read(cache, 'sf', loader, { name: 'test', tags: ['t1'] }), 'value 1')
      await cache.invalidate(['unrelated'])
      assert.equal(await read(cache, 'sf', loader, { name: 'test', tags: ['t1'] }), 'value 1')
      await cache.invalidate(['t1'])
      assert.equal(await read(cache, 'sf', loader, { name: 'test', tags: ['t1'] }), 'value 2')
    }
  )

  backendTest(backend, 'when an entry is older than its ttl, then the loader runs again', async (t, env) => {
    const app = await build(t, env)
    let calls = 0
    const loader = async () => `v${++calls}`
    assert.equal(await read(app.cache!, 'ttl', loader, { name: 'test', tags: [], ttl: 1 }), 'v1')
    assert.equal(await read(app.cache!, 'ttl', loader, { name: 'test', tags: [], ttl: 1 }), 'v1')
    await sleep(1100)
    assert.equal(await read(app.cache!, 'ttl', loader, { name: 'test', tags: [], ttl: 1 }), 'v2')
  })

  backendTest(
    backend,
    'when a loader fails, then the error reaches the caller and nothing is cached',
    async (t, env) => {
      const app = await build(t, env)
      await assert.rejects(
        read(app.cache!, 'boom', async () => Promise.reject(new Error('db down')), { name: 'test', tags: [] }),
        /db down/
      )
      assert.equal(await read(app.cache!, 'boom', async () => 'fine', { name: 'test', tags: [] }), 'fine')
      assert.equal((await app.inject({ method: 'GET', url: '/api/v1/products/999999' })).statusCode, 404)
    }
  )
}

test('when CACHE_ENABLED=false, then reads go to the database every time', async (t) => {
  const app = await build(t, { CACHE_ENABLED: 'false' })
  const key = await apiKey(app)
  const product = await createProduct(app, key, 'NOCACHE')
  await app.inject({ method: 'GET', url: `/api/v1/products/${product.id}` })
  await app.db.primary.query("UPDATE products SET name = 'direct' WHERE id = $1", [product.id])
  assert.equal((await app.inject({ method: 'GET', url: `/api/v1/products/${product.id}` })).json().data.name, 'direct')
})
