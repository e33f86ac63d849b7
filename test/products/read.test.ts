import assert from 'node:assert/strict'
import { test } from 'node:test'
import { build, seed } from '../helper.js'

test('when products are listed, then the first page has the envelope, a cursor and a Link header', async (t) => {
  const app = await build(t)
  await seed(app, 50)
  const res = await app.inject({ method: 'GET', url: '/api/v1/products?limit=20' })
  assert.equal(res.statusCode, 200)
  const body = res.json()
  assert.equal(body.success, true)
  assert.equal(body.data.length, 20)
  assert.equal(body.pagination.hasMore, true)
  assert.match(res.headers.link as string, /^<\/api\/v1\/products\?limit=20&cursor=[^>]+>; rel="next"$/)
})
