// Cluster mode (ioredis Cluster) against a real local three-master Redis Cluster this file starts and stops.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { apiKey, bearer, build, createTestDatabase } from '../helper.js'
import { checkDraftHeaders } from '../rate-limit/headers.js'
import { haveRedisServer, type LocalCluster, startCluster } from './cluster.js'

const required = process.env.REQUIRE_SERVICES === '1'
const available = haveRedisServer()
const skip = !available && !required ? 'redis-server / redis-cli are not installed' : false
let cluster: LocalCluster | undefined

before(async () => {
  if (skip) return
  if (!available) throw new Error('REQUIRE_SERVICES=1 but redis-server / redis-cli are not installed')
  cluster = await startCluster()
})
after(() => cluster?.stop())

const metricValue = (text: string, line: string) =>
  Number(
    text
      .split('\n')
      .find((l) => l.startsWith(line))
      ?.split(' ')[1] ?? 0
  )

test(
  'when REDIS_CLUSTER_NODES names a cluster, then caching, invalidation and coherence work across its slots without cross-slot errors',
  { skip, timeout: 60_000 },
  async (t) => {
    const env = { REDIS_CLUSTER_NODES: cluster!.nodes, REDIS_KEY_PREFIX: 'cluster-test:' }
    const target = await createTestDatabase(t)
    const a = await build(t, env, target)
    const b = await build(t, env, target)
    const key = await apiKey(a)
    const ids: number[] = []
    for (let i = 0; i < 6; i++) {
      const res = await a.inject({
        method: 'POST',
        url: '/api/v1/products',
        headers: bearer(key),
        payload: { sku: `CL-${i}`, name: `v0`, priceCents: 100, currency: 'EUR', status: 'active' }
      })
      ids.push(res.json().data.id)
    }
    for (let round = 1; round <= 5; round++) {
      for (const id of ids)
        assert.equal((await b.inject({ method: 'GET', url: `/api/v1/products/${id}` })).statusCode, 200)
      await b.inject({ method: 'GET', url: '/api/v1/products?limit=2' })
      for (const id of ids) {
        const res = await a.inject({
          method: 'PATCH',
          url: `/api/v1/products/${id}`,
          headers: bearer(key),
          payload: { name: `v${round}` }
        })
        assert.equal(res.statusCode, 200)
      }
      for (const id of ids)
        assert.equal((await b.inject({ method: 'GET', url: `/api/v1/products/${id}` })).json().data.name, `v${round}`)
      assert.equal(
        (await b.inject({ method: 'GET', url: '/api/v1/products?limit=2' })).json().data[0].name,
        `v${round}`
      )
      for (const id of ids) await b.inject({ method: 'GET', url: `/api/v1/products/${id}` })
    }
    const metrics = (await b.inject({ method: 'GET', url: '/metrics' })).body
    assert.ok(metricValue(metrics, 'cache_hits_total{cache="product"}') >= 25, 'entries are served from the cluster')
    assert.equal(metricValue(metrics, 'cache_errors_total{cache="product"}'), 0)
    assert.equal(metricValue(metrics, 'cache_fallbacks_total{cache="product"}'), 0)
    assert.equal(metricValue(metrics, 'redis_up'), 1)
    // Entries are spread over the masters (only the tag versions share one slot).
    const { Cluster } = await import('ioredis')
    const client = new Cluster(
      cluster!.nodes.split(',').map((n) => ({ host: '127.0.0.1', port: Number(n.split(':')[1]) }))
    )
    t.after(() => client.quit())
    await new Promise((resolve) => client.once('ready', resolve))
    const perNode = await Promise.all(client.nodes('master').map((node) => node.dbsize()))
    assert.ok(perNode.filter((n) => n > 0).length >= 2, `keys per master: ${perNode.join(', ')}`)
  }
)

test(
  'when two instances share a cluster, then the rate limit is exact across them',
  { skip, timeout: 60_000 },
  async (t) => {
    const env = {
      REDIS_CLUSTER_NODES: cluster!.nodes,
      REDIS_KEY_PREFIX: 'cluster-rl:',
      RATE_LIMIT_ENABLED: 'true',
      RATE_LIMIT_MAX_REQUESTS: '20',
      RATE_LIMIT_WINDOW_MS: '600000'
    }
    const target = await createTestDatabase(t)
    const apps = [await build(t, env, target), await build(t, env, target)]
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => apps[i % 2]!.inject({ method: 'GET', url: '/api/v1/categories' }))
    )
    assert.equal(answers.filter((r) => r.statusCode === 200).length, 20)
    assert.equal(answers.filter((r) => r.statusCode === 429).length, 40)
    checkDraftHeaders(answers[0]!.headers)
    const metrics = (await apps[0]!.inject({ method: 'GET', url: '/metrics' })).body
    assert.equal(metricValue(metrics, 'rate_limit_decisions_total{backend="memory_fallback"'), 0)
  }
)
