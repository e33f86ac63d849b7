import assert from 'node:assert/strict'
import { test } from 'node:test'
import { assertProblem, build, seed } from '../helper.js'

test('when a path id is not plain decimal digits, then 400 names the parameter instead of finding product 1 or 16', async (t) => {
  const app = await build(t)
  await seed(app, 20)
  assert.equal((await app.inject({ method: 'GET', url: '/api/v1/products/1' })).statusCode, 200)
  assert.equal((await app.inject({ method: 'GET', url: '/api/v1/products/16' })).statusCode, 200)
  for (const id of ['0x10', '1e1', '+1', '%201', '1%20', '01', '1.0', '-1', '0b1', '1_0', '%EF%BC%91']) {
    const res = await app.inject({ method: 'GET', url: `/api/v1/products/${id}` })
    const body = assertProblem(res, 400, 'VALIDATION_FAILED')
    assert.deepEqual(
      body.errors?.map((e) => e.field),
      ['id'],
      `/products/${id}: ${res.body}`
    )
  }
  const tree = await app.inject({ method: 'GET', url: '/api/v1/categories/0x1/tree' })
  assert.deepEqual(assertProblem(tree, 400, 'VALIDATION_FAILED').errors?.[0]?.field, 'id')
})

test('when a query number is not plain decimal digits, then 400 names the parameter', async (t) => {
  const app = await build(t)
  await seed(app, 20)
  const ok = await app.inject({ method: 'GET', url: '/api/v1/products?limit=10&minPrice=0&maxPrice=100000' })
  assert.equal(ok.statusCode, 200, ok.body)
  for (const [name, value] of [
    ['limit', '0x10'],
    ['limit', '1e1'],
    ['limit', '+5'],
    ['limit', '05'],
    ['limit', '5.0'],
    ['limit', '%205'],
    ['minPrice', '1e3'],
    ['categoryId', '0x1']
  ]) {
    const res = await app.inject({ method: 'GET', url: `/api/v1/products?${name}=${value}` })
    const body = assertProblem(res, 400, 'VALIDATION_FAILED')
    assert.deepEqual(
      body.errors?.map((e) => e.field),
      [name],
      `${name}=${value}: ${res.body}`
    )
    assert.match(body.detail, new RegExp(`^${name} must be a whole number in plain decimal digits`))
  }
})
