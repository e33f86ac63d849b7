// docs/metrics.md is the reference of what /metrics exports: every metric, its type and its labels, both ways.
import assert from 'node:assert/strict'
import type { Metric } from 'prom-client'
import { build } from '../helper.js'
import { documentedMetrics } from '../observability.js'
import { redisPrefix, redisTest } from '../redis-helper.js'

redisTest(
  'when every capability is on (Redis, cache, rate limit), then docs/metrics.md lists exactly the exported metrics, with their types and labels',
  async (t, url) => {
    const app = await build(t, {
      REDIS_URL: url,
      REDIS_KEY_PREFIX: redisPrefix(t, url),
      CACHE_ENABLED: 'true',
      RATE_LIMIT_ENABLED: 'true'
    })
    const exported = new Map<string, { type: string; labels: string[] }>()
    for (const object of app.metrics.registry.getMetricsAsArray()) {
      // prom-client keeps the declared label names on the metric (le is the histogram's own).
      const metric = object as unknown as Metric & { labelNames?: string[] }
      const { name, type } = await metric.get()
      const labels = [...(metric.labelNames ?? [])].sort()
      exported.set(name, { type: String(type), labels })
    }
    // The exposition names the same families as the registry.
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
    const typed = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]).sort()
    assert.deepEqual(typed, [...exported.keys()].sort())

    const documented = documentedMetrics()
    const names = new Set(documented.map((d) => d.name))
    assert.equal(names.size, documented.length, 'each metric is documented once')
    assert.deepEqual(
      [...exported.keys()].filter((name) => !names.has(name)).sort(),
      [],
      'exported but missing from docs/metrics.md'
    )
    assert.deepEqual(
      documented.filter((d) => !exported.has(d.name)).map((d) => d.name),
      [],
      'in docs/metrics.md but not exported'
    )
    for (const doc of documented) {
      const actual = exported.get(doc.name)
      assert.ok(actual)
      assert.equal(doc.type, actual.type, `type of ${doc.name}`)
      assert.deepEqual(doc.labels, actual.labels, `labels of ${doc.name}`)
      assert.ok(doc.meaning.length > 10, `meaning of ${doc.name}`)
    }
  }
)
