// The 429-first rule on every documented read: public reads do not wait for the decision in onRequest, so each
// must answer through respondCached (which waits for request.admitted()). A new route that reads the database or
// answers before its admission fails here.
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import { build } from '../helper.js'
import { metricSum } from '../db/metrics-util.js'
import { backendTest } from '../redis-helper.js'

backendTest(
  'redis',
  'when any read route is over quota, then it answers 429 before validation and without a database read',
  async (t, env) => {
    const publicReads = new Set<string>()
    const app = await build(
      t,
      { ...env, RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_MAX_REQUESTS: '1', RATE_LIMIT_WINDOW_MS: '60000' },
      undefined,
      (instance: FastifyInstance) =>
        instance.addHook('onRequest', (request, _reply, done) => {
          if (request.routeOptions.config.publicRead === true) publicReads.add(request.routeOptions.url ?? '')
          done()
        })
    )
    const paths = Object.entries(app.swagger().paths ?? {})
      .filter(([, item]) => item?.get !== undefined)
      .map(([path]) => path)
      .filter((path) => !/^\/(health|metrics)/.test(path))
    assert.equal((await app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200)
    // The one request of the quota.
    assert.equal((await app.inject({ method: 'GET', url: '/api/v1/products?limit=1' })).statusCode, 200)
    const reads = async () =>
      (await metricSum(app, 'db_read_routing_total')) +
      (await metricSum(app, 'db_query_duration_seconds', { table: 'products' })) +
      (await metricSum(app, 'db_query_duration_seconds', { table: 'categories' }))
    const before = await reads()
    for (const path of paths) {
      for (const param of ['424242', 'not-an-id']) {
        const url = path.replace(/\{[A-Za-z]+\}/g, param) + (path.includes('{') ? '' : '?limit=not-a-number')
        const res = await app.inject({ method: 'GET', url })
        assert.equal(res.statusCode, 429, `${url}: ${res.body}`)
        assert.equal(res.json().code, 'QUOTA_EXCEEDED', url)
      }
    }
    assert.equal(await reads(), before, 'no refused request reached the database')
    // The routes whose decision rides with their cache lookup were among them.
    assert.ok(publicReads.size >= 5, `public reads seen: ${[...publicReads].join(', ')}`)
  }
)
