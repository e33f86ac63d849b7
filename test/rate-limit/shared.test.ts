import assert from 'node:assert/strict'
import { build, createTestDatabase, defer } from '../helper.js'
import { redisPrefix, redisTest } from '../redis-helper.js'
import { startProxy } from '../tcp-proxy.js'
import { checkDraftHeaders } from './headers.js'

redisTest(
  'when 300 requests are spread over three instances on one Redis with a limit of 100, then exactly 100 pass',
  async (t, url) => {
    const env = {
      REDIS_URL: url,
      REDIS_KEY_PREFIX: redisPrefix(t, url),
      // This test is about the shared count, not fault timing: on a busy CI box 300 concurrent decisions can
      // exceed the production 150 ms command timeout, and the in-memory fallback would then (rightly) take over.
      REDIS_COMMAND_TIMEOUT_MS: '5000',
      RATE_LIMIT_ENABLED: 'true',
      RATE_LIMIT_MAX_REQUESTS: '100',
      RATE_LIMIT_WINDOW_MS: '900000'
    }
    const target = await createTestDatabase(t)
    const apps = [await build(t, env, target), await build(t, env, target), await build(t, env, target)]
    const answers = await Promise.all(
      Array.from({ length: 300 }, (_, i) => apps[i % 3]!.inject({ method: 'GET', url: '/api/v1/categories' }))
    )
    const counts = new Map<number, number>()
    for (const res of answers) counts.set(res.statusCode, (counts.get(res.statusCode) ?? 0) + 1)
    assert.deepEqual([...counts].sort(), [
      [200, 100],
      [429, 200]
    ])
    const remaining = answers
      .filter((r) => r.statusCode === 200)
      .map((r) => checkDraftHeaders(r.headers).r)
      .sort((a, b) => a - b)
    assert.deepEqual(
      remaining,
      Array.from({ length: 100 }, (_, i) => i)
    )
    for (const res of answers) assert.equal(checkDraftHeaders(res.headers).w, 900)
  }
)

redisTest(
  'when Redis is down, then each instance limits in memory with max/RATE_LIMIT_FALLBACK_DIVISOR, answers no 5xx, and says so in metrics and logs',
  async (t, url) => {
    const { hostname, port } = new URL(url)
    const proxy = await startProxy({ host: hostname, port: Number(port) })
    defer(t, () => proxy.close())
    const app = await build(t, {
      REDIS_URL: proxy.url,
      REDIS_KEY_PREFIX: redisPrefix(t, url),
      RATE_LIMIT_ENABLED: 'true',
      RATE_LIMIT_MAX_REQUESTS: '12',
      RATE_LIMIT_WINDOW_MS: '900000',
      RATE_LIMIT_FALLBACK_DIVISOR: '3'
    })
    const warnings: string[] = []
    const warn = app.log.warn.bind(app.log)
    app.log.warn = (...args: unknown[]) => {
      warnings.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '))
      Reflect.apply(warn, app.log, args)
    }
    assert.equal((await app.inject({ method: 'GET', url: '/api/v1/categories' })).statusCode, 200)
    proxy.setMode('reset')
    const statuses: number[] = []
    let slowest = 0
    for (let i = 0; i < 6; i++) {
      const started = performance.now()
      statuses.push((await app.inject({ method: 'GET', url: '/api/v1/categories' })).statusCode)
      slowest = Math.max(slowest, performance.now() - started)
    }
    // 12 / 3 = 4 per instance while Redis is away.
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429])
    assert.ok(slowest < 300, `slowest ${slowest} ms`)
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
    assert.match(metrics, /rate_limit_decisions_total\{backend="memory_fallback",outcome="allowed"\} 4/)
    assert.match(metrics, /rate_limit_decisions_total\{backend="redis",outcome="allowed"\} 1/)
    assert.ok(
      warnings.some((w) => w.includes('rate limiting falls back to per-instance memory')),
      warnings.join('\n')
    )
  }
)
