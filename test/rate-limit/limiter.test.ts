// The same limiter suite against the in-process backend and the real Redis.
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { gcra } from '../../src/rate-limit/gcra.js'
import { parseRules } from '../../src/lib/rate-limit-rules.js'
import { apiKey, bearer, build } from '../helper.js'
import { type Backend, backendTest as bothBackends, sleep } from '../redis-helper.js'
import { metricSum } from '../db/metrics-util.js'
import { checkDraftHeaders } from './headers.js'

const limited = { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_MAX_REQUESTS: '5', RATE_LIMIT_WINDOW_MS: '60000' }

/** A limiter test on both backends, with a quota of 5 per minute. */
function backendTest(
  backend: Backend,
  name: string,
  fn: (t: TestContext, env: Record<string, string>) => Promise<void>
): void {
  bothBackends(backend, name, fn, limited)
}

for (const backend of ['memory', 'redis'] as const) {
  backendTest(
    backend,
    'when an anonymous client goes over its quota, then exactly max pass and the rest get 429 quota-exceeded with Retry-After ≥ t',
    async (t, env) => {
      const app = await build(t, env)
      const answers = []
      for (let i = 0; i < 8; i++) answers.push(await app.inject({ method: 'GET', url: '/api/v1/products' }))
      assert.deepEqual(
        answers.map((r) => r.statusCode),
        [200, 200, 200, 200, 200, 429, 429, 429]
      )
      const states = answers.map((r) => checkDraftHeaders(r.headers))
      for (const s of states) assert.deepEqual([s.name, s.q, s.w], ['default', 5, 60])
      assert.deepEqual(
        states.map((s) => s.r),
        [4, 3, 2, 1, 0, 0, 0, 0]
      )
      // Allowed: t is when the quota is full again (≤ the window); denied: when the next request is allowed.
      for (const s of states.slice(0, 5)) assert.ok(s.t >= 1 && s.t <= 60, `t=${s.t}`)
      const denied = answers[5]!
      assert.ok(states[5]!.t >= 11 && states[5]!.t <= 12, `t=${states[5]!.t}: one request is free again after 60/5 s`)
      assert.ok(Number(denied.headers['retry-after']) >= states[5]!.t)
      assert.equal(denied.headers['content-type'], 'application/problem+json; charset=utf-8')
      const problem = denied.json()
      assert.match(problem.type, /#quota-exceeded$/)
      assert.equal(problem.status, 429)
      assert.equal(problem.code, 'QUOTA_EXCEEDED')
      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
      assert.match(metrics, /rate_limit_exceeded_total\{route="\/api\/v1\/products"\} 3/)
      assert.match(metrics, new RegExp(`rate_limit_decisions_total\\{backend="${backend}",outcome="denied"\\} 3`))
    }
  )

  backendTest(
    backend,
    'when /health* and /metrics are called, then they are never limited; unknown routes are',
    async (t, env) => {
      const app = await build(t, env)
      for (let i = 0; i < 8; i++) {
        for (const url of ['/health', '/health/live', '/health/ready', '/metrics']) {
          const res = await app.inject({ method: 'GET', url })
          assert.equal(res.statusCode, 200, url)
          assert.equal(res.headers.ratelimit, undefined)
        }
      }
      const unknown = []
      for (let i = 0; i < 6; i++) unknown.push(await app.inject({ method: 'GET', url: `/no/such/route/${i}` }))
      assert.deepEqual(
        unknown.map((r) => r.statusCode),
        [404, 404, 404, 404, 404, 429]
      )
      checkDraftHeaders(unknown[0]!.headers)
    }
  )

  backendTest(
    backend,
    'when clients differ by address (through the trusted proxy), then each has its own quota',
    async (t, env) => {
      const app = await build(t, { ...env, TRUST_PROXY: '1' })
      const from = (ip: string) =>
        app.inject({ method: 'GET', url: '/api/v1/categories', headers: { 'x-forwarded-for': ip } })
      for (let i = 0; i < 5; i++) assert.equal((await from('203.0.113.1')).statusCode, 200)
      assert.equal((await from('203.0.113.1')).statusCode, 429)
      assert.equal((await from('203.0.113.2')).statusCode, 200)
      const untrusted = await build(t, env)
      for (let i = 0; i < 5; i++)
        await untrusted.inject({
          method: 'GET',
          url: '/api/v1/categories',
          headers: { 'x-forwarded-for': `198.51.100.${i}` }
        })
      assert.equal(
        (
          await untrusted.inject({
            method: 'GET',
            url: '/api/v1/categories',
            headers: { 'x-forwarded-for': '198.51.100.99' }
          })
        ).statusCode,
        429
      )
    }
  )

  backendTest(
    backend,
    'when a request carries an API key, then its role policy applies, writes get the stricter write policy, and a made-up key counts as anonymous',
    async (t, env) => {
      const app = await build(t, {
        ...env,
        RATE_LIMIT_RULES: 'writes: POST,PUT,PATCH,DELETE * 2/1m; editors: role:editor 8/1m'
      })
      const key = await apiKey(app)
      const reads = []
      for (let i = 0; i < 9; i++)
        reads.push(await app.inject({ method: 'GET', url: '/api/v1/products', headers: bearer(key) }))
      assert.equal(reads.filter((r) => r.statusCode === 200).length, 8)
      assert.equal(checkDraftHeaders(reads[0]!.headers).name, 'editors')
      assert.equal(checkDraftHeaders(reads[0]!.headers).q, 8)
      const writes = []
      for (let i = 0; i < 3; i++) {
        writes.push(
          await app.inject({
            method: 'POST',
            url: '/api/v1/categories',
            headers: bearer(key),
            payload: { name: `Limited ${i}` }
          })
        )
      }
      assert.deepEqual(
        writes.map((r) => r.statusCode),
        [201, 201, 429]
      )
      assert.deepEqual(
        [checkDraftHeaders(writes[0]!.headers).name, checkDraftHeaders(writes[0]!.headers).q],
        ['writes', 2]
      )
      // Invented keys do not get fresh quotas: they are limited by address under the default policy.
      const invented: Awaited<ReturnType<typeof app.inject>>[] = []
      for (let i = 0; i < 6; i++)
        invented.push(await app.inject({ method: 'GET', url: '/api/v1/products', headers: bearer(`ck_made_up_${i}`) }))
      assert.deepEqual(
        invented.map((r) => r.statusCode),
        [200, 200, 200, 200, 200, 429]
      )
      assert.equal(checkDraftHeaders(invented[0]!.headers).name, 'default')
    }
  )

  backendTest(
    backend,
    'when the quota is used up, then it comes back one request per window/max, never as a second full burst',
    async (t, env) => {
      const app = await build(t, { ...env, RATE_LIMIT_MAX_REQUESTS: '2', RATE_LIMIT_WINDOW_MS: '2000' })
      const get = async () => (await app.inject({ method: 'GET', url: '/api/v1/categories' })).statusCode
      assert.deepEqual([await get(), await get(), await get()], [200, 200, 429])
      await sleep(1100)
      // A fixed window that just rolled over would let two through here.
      assert.deepEqual([await get(), await get()], [200, 429])
    }
  )

  backendTest(
    backend,
    'when a client mixes cached reads (misses and hits) with other routes, then all draw on one quota, one decision each',
    async (t, env) => {
      // With Redis, a cached read's decision rides in its cache lookup script; other routes send it alone.
      const app = await build(t, env)
      const urls = [
        '/api/v1/products?limit=1',
        '/no/such/route',
        '/api/v1/products?limit=1',
        '/api/v1/categories',
        '/no/such/route',
        '/api/v1/products?limit=1',
        '/no/such/route'
      ]
      const answers = []
      for (const url of urls) answers.push(await app.inject({ method: 'GET', url }))
      assert.deepEqual(
        answers.map((r) => r.statusCode),
        [200, 404, 200, 200, 404, 429, 429]
      )
      assert.deepEqual(
        answers.map((r) => checkDraftHeaders(r.headers).r),
        [4, 3, 2, 1, 0, 0, 0]
      )
      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
      assert.match(metrics, new RegExp(`rate_limit_decisions_total\\{backend="${backend}",outcome="allowed"\\} 5\n`))
      assert.match(metrics, new RegExp(`rate_limit_decisions_total\\{backend="${backend}",outcome="denied"\\} 2\n`))
    }
  )

  backendTest(
    backend,
    'when the cache is off, then the cached read routes still decide once per request before answering',
    async (t, env) => {
      // No cache lookup to carry the decision: it is sent on its own before the handler answers.
      const app = await build(t, { ...env, CACHE_ENABLED: 'false', RATE_LIMIT_MAX_REQUESTS: '3' })
      const answers = []
      for (const url of [
        '/api/v1/products?limit=1',
        '/api/v1/categories',
        '/api/v1/products?limit=1',
        '/api/v1/products?limit=1'
      ]) {
        answers.push(await app.inject({ method: 'GET', url }))
      }
      assert.deepEqual(
        answers.map((r) => r.statusCode),
        [200, 200, 200, 429]
      )
      assert.deepEqual(
        answers.map((r) => checkDraftHeaders(r.headers).r),
        [2, 1, 0, 0]
      )
    }
  )

  backendTest(
    backend,
    'when a cached read route is over quota, then its 429 comes before any database read, and its errors carry the RateLimit headers',
    async (t, env) => {
      // Cached reads send the decision together with the cache lookup and wait for it before answering.
      const app = await build(t, { ...env, RATE_LIMIT_MAX_REQUESTS: '4' })
      const reads = () => metricSum(app, 'db_read_routing_total')
      for (let i = 0; i < 3; i++)
        assert.equal((await app.inject({ method: 'GET', url: `/api/v1/products?limit=${i + 1}` })).statusCode, 200)
      const invalid = await app.inject({ method: 'GET', url: '/api/v1/products?limit=abc' })
      assert.equal(invalid.statusCode, 400)
      assert.equal(checkDraftHeaders(invalid.headers).r, 0, 'the 400 counts and says so')
      const before = await reads()
      const refused = [
        await app.inject({ method: 'GET', url: '/api/v1/products?limit=7' }),
        await app.inject({ method: 'GET', url: '/api/v1/products/999999' }),
        await app.inject({ method: 'GET', url: '/api/v1/categories?limit=9' }),
        await app.inject({ method: 'GET', url: '/api/v1/products?limit=abc' }),
        await app.inject({ method: 'HEAD', url: '/api/v1/products?limit=8' })
      ]
      assert.deepEqual(
        refused.map((r) => r.statusCode),
        [429, 429, 429, 429, 429]
      )
      for (const r of refused) assert.ok(Number(r.headers['retry-after']) >= 1)
      assert.equal(refused[0]!.json().code, 'QUOTA_EXCEEDED')
      assert.equal(await reads(), before, 'a refused cache miss never reached the database')
    }
  )
}

test('when GCRA decides at given times, then a burst of max passes and quota returns evenly', () => {
  const policy = { name: 'p', max: 10, windowMs: 10_000 }
  let tat = 0
  const at = (seconds: number) => {
    const { decision, tat: next } = gcra(tat, seconds * 1e6 + 1e15, policy)
    tat = next
    return decision
  }
  const burst = Array.from({ length: 11 }, () => at(0))
  assert.equal(burst.filter((d) => d.allowed).length, 10)
  assert.deepEqual(burst[10], { allowed: false, remaining: 0, resetSeconds: 1 })
  assert.equal(at(0.5).allowed, false)
  assert.equal(at(1).allowed, true)
  assert.equal(at(1).allowed, false)
  assert.deepEqual(at(10.5), { allowed: true, remaining: 8, resetSeconds: 2 })
})

test('when RATE_LIMIT_RULES is malformed, then it is rejected naming the rule', () => {
  assert.deepEqual(
    parseRules('writes: POST,patch * 30/1m; keys: role:editor 1000/15m').map((r) => [r.name, r.max, r.windowMs]),
    [
      ['writes', 30, 60_000],
      ['keys', 1000, 900_000]
    ]
  )
  assert.throws(() => parseRules('writes POST * 30'), /"writes POST \* 30" is not/)
  assert.throws(() => parseRules('a: GET * 0/1m'), /max must be ≥ 1/)
  assert.throws(() => parseRules('default: role:admin 5/1m'), /already used/)
})
