// grafana/catalog-api.json and its provisioning hold together: Grafana finds the datasource and the dashboard, and the
// dashboard shows each signal operators need. (Its expressions run against a real Prometheus in prometheus-live.test.ts.)
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { parse } from 'yaml'
import { dashboardExpressions, loadDashboard, root, selectors, substituteVariables } from '../observability.js'

const provisioning = (file: string) => parse(readFileSync(join(root, 'grafana', 'provisioning', file), 'utf8')) as never

interface Panel {
  id: number
  type: string
  title: string
  datasource?: { uid: string }
  gridPos: { x: number; y: number; w: number; h: number }
  targets?: { datasource?: { uid: string }; expr: string }[]
}

test('the provisioned datasource is the one every panel and variable of the dashboard uses', () => {
  const { datasources } = provisioning('datasources/prometheus.yml') as {
    datasources: { uid: string; type: string; url: string }[]
  }
  const [datasource] = datasources
  assert.equal(datasource?.type, 'prometheus')
  const dashboard = loadDashboard()
  assert.equal(dashboard.uid, 'catalog-api')
  const panels = dashboard.panels as unknown as Panel[]
  const ids = panels.map((p) => p.id)
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique')
  for (const panel of panels.filter((p) => p.type !== 'row')) {
    assert.equal(panel.datasource?.uid, datasource.uid, `panel ${panel.title}`)
    assert.ok(panel.targets?.length, `panel ${panel.title} has queries`)
    for (const target of panel.targets ?? []) assert.equal(target.datasource?.uid, datasource.uid)
    assert.ok(panel.gridPos.x + panel.gridPos.w <= 24, `panel ${panel.title} fits the 24-column grid`)
  }
  for (const variable of dashboard.templating.list) assert.equal(variable.datasource?.uid, datasource.uid)
})

test('the dashboard provider loads the folder the dashboard is mounted in', () => {
  const { providers } = provisioning('dashboards/catalog-api.yml') as {
    providers: { type: string; options: { path: string } }[]
  }
  assert.equal(providers[0]?.type, 'file')
  assert.equal(providers[0]?.options.path, '/etc/grafana/catalog')
})

test('the dashboard shows traffic, latency, errors by code, cache, rate limiting, pools, routing, replicas, Redis, event loop and memory', () => {
  const read = new Set(
    dashboardExpressions(loadDashboard()).flatMap((e) => selectors(substituteVariables(e.expr)).map((s) => s.metric))
  )
  for (const metric of [
    'http_requests_total',
    'http_request_duration_seconds_bucket',
    'slo_class:http_request_duration_seconds:p95_5m',
    'http_errors_total',
    'cache_hits_total',
    'cache_misses_total',
    'rate_limit_decisions_total',
    'db_pool_clients',
    'db_read_routing_total',
    'db_replica_lag_seconds',
    'redis_up',
    'redis_circuit_open',
    'nodejs_eventloop_lag_p99_seconds',
    'process_resident_memory_bytes',
    'nodejs_heap_size_used_bytes'
  ])
    assert.ok(read.has(metric), `a panel reads ${metric}`)
})
