import assert from 'node:assert/strict'
import { test } from 'node:test'
import { databaseFault } from '../../src/db/errors.js'
import { apiKey, assertProblem, bearer, build } from '../helper.js'
import { withTestRoutes } from '../test-routes.js'

test('when PostgreSQL reports it cannot serve, then the fault maps to 503 with Retry-After, never 500', () => {
  const cases: [string, object][] = [
    ['connection failure', { code: '08006', message: 'connection failure' }],
    ['starting up', { code: '57P03', message: 'the database system is starting up' }],
    ['admin shutdown', { code: '57P01', message: 'terminating connection due to administrator command' }],
    ['too many connections', { code: '53300', message: 'sorry, too many clients already' }],
    ['demoted primary', { code: '25006', message: 'cannot execute INSERT in a read-only transaction' }],
    ['refused', { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:5432' }],
    ['pool timeout', { message: 'timeout exceeded when trying to connect' }],
    ['dropped', { message: 'Connection terminated unexpectedly' }]
  ]
  for (const [name, err] of cases) {
    const fault = databaseFault(err)
    assert.equal(fault?.status, 503, name)
    assert.equal(fault?.code, 'DATABASE_UNAVAILABLE', name)
    assert.equal(fault?.headers?.['retry-after'], '1', name)
  }
  assert.equal(databaseFault({ code: '57014', message: 'canceling statement due to statement timeout' })?.status, 504)
  assert.equal(
    databaseFault({ code: '23505', message: 'duplicate key' }),
    undefined,
    'a constraint violation is not a fault'
  )
  assert.equal(databaseFault(new Error('boom')), undefined)
})

test('when every pool connection is busy past DB_CONNECTION_TIMEOUT, then the next request gets 503 problem+json', async (t) => {
  const app = await build(t, { DB_POOL_MAX: '1', DB_CONNECTION_TIMEOUT: '300' }, undefined, withTestRoutes)
  const holding = app.inject({ method: 'GET', url: '/test/db-sleep?ms=1500' })
  await new Promise((resolve) => setTimeout(resolve, 200))
  const res = await app.inject({ method: 'GET', url: '/api/v1/products' })
  assertProblem(res, 503, 'DATABASE_UNAVAILABLE')
  assert.equal(res.headers['retry-after'], '1')
  assert.equal((await holding).statusCode, 200)
})

test('when a statement runs past DB_STATEMENT_TIMEOUT, then the server cancels it and the client gets 504, not a hang', async (t) => {
  const app = await build(t, { DB_STATEMENT_TIMEOUT: '300' }, undefined, withTestRoutes)
  const started = Date.now()
  const res = await app.inject({ method: 'GET', url: '/test/db-sleep?ms=5000' })
  assert.ok(Date.now() - started < 3000)
  assertProblem(res, 504, 'DATABASE_TIMEOUT')
  // The pool is healthy afterwards.
  const key = await apiKey(app, 'editor')
  const created = await app.inject({
    method: 'POST',
    url: '/api/v1/products',
    headers: bearer(key),
    payload: { sku: 'AFTER-TIMEOUT', name: 'After', priceCents: 1, currency: 'USD' }
  })
  assert.equal(created.statusCode, 201)
})
