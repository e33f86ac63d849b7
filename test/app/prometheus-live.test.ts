// Every PromQL expression we ship — recording and alerting rules, dashboard panels and variables, runbook queries —
// run against a real Prometheus (Debian's `prometheus`) that scraped a live API with Redis, cache and rate limiting
// on: each must parse, and name only metrics the service exports (or our recording rules record) with labels they
// have; the recording rules must yield data.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { freePort } from '../../src/lib/free-port.js'
import { apiKey, build, defer } from '../helper.js'
import {
  dashboardExpressions,
  documentedMetrics,
  exportedFamilies,
  loadDashboard,
  loadRules,
  missingBinary,
  rulesDir,
  runbookSections,
  runbookText,
  selectors,
  substituteVariables,
  yamlFiles
} from '../observability.js'
import { eventually, redisPrefix, redisUrl, sleep } from '../redis-helper.js'

const required = process.env.REQUIRE_SERVICES === '1'
const missing = missingBinary('prometheus') ?? (redisUrl ? undefined : 'no Redis answered on TEST_REDIS_URL')
// Skipped by name on a developer machine without them; under REQUIRE_SERVICES=1 their absence fails.
const skip = !required && missing ? missing : false

type Hooks = Parameters<typeof defer>[0]

interface QueryResult {
  status: string
  error?: string
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] }
}

async function startPrometheus(t: Hooks, apiPort: number): Promise<{ url: string; child: ChildProcess }> {
  const dir = await mkdtemp(join(tmpdir(), 'catalog-prometheus-'))
  defer(t, () => rm(dir, { recursive: true, force: true }))
  const config = [
    'global:',
    // Short, yet long enough for a scrape of a tsx-run API on a busy machine.
    '  scrape_interval: 2s',
    '  scrape_timeout: 2s',
    '  evaluation_interval: 1s',
    'rule_files:',
    ...yamlFiles(rulesDir).map((f) => `  - ${JSON.stringify(f)}`),
    'scrape_configs:',
    '  - job_name: catalog-api',
    '    static_configs:',
    `      - targets: ['127.0.0.1:${apiPort}']`
  ].join('\n')
  await writeFile(join(dir, 'prometheus.yml'), `${config}\n`)
  const port = await freePort()
  const child = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn'
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] }
  )
  let output = ''
  child.stdout?.on('data', (d) => (output += d))
  child.stderr?.on('data', (d) => (output += d))
  const exited = new Promise((resolve) => child.once('exit', resolve))
  defer(t, async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  })
  const url = `http://127.0.0.1:${port}`
  await eventually(
    async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}:\n${output}`)
      return fetch(`${url}/-/ready`).then(
        (r) => r.ok,
        () => false
      )
    },
    30_000,
    'prometheus is ready'
  )
  return { url, child }
}

async function query(prometheus: string, expr: string): Promise<QueryResult> {
  const res = await fetch(`${prometheus}/api/v1/query?${new URLSearchParams({ query: expr })}`)
  return (await res.json()) as QueryResult
}

/** A little of everything: a write, cache misses and hits, a list, a 404, a 401. */
async function exercise(api: string, key: string, round: number): Promise<void> {
  const json = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }
  const created = await fetch(`${api}/api/v1/products`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({
      sku: `PROM-LIVE-${round}`,
      name: 'Scraped lamp',
      priceCents: 1999,
      currency: 'USD',
      stock: 3,
      status: 'active'
    })
  })
  assert.equal(created.status, 201, await created.clone().text())
  const { id } = ((await created.json()) as { data: { id: number } }).data
  for (const path of [`/api/v1/products/${id}`, `/api/v1/products/${id}`, '/api/v1/products?limit=5']) {
    const res = await fetch(`${api}${path}`)
    assert.equal(res.status, 200, `${path}: ${await res.text()}`)
  }
  assert.equal((await fetch(`${api}/api/v1/products?limit=5`)).status, 200)
  assert.equal((await fetch(`${api}/api/v1/products/999999`)).status, 404)
  assert.equal((await fetch(`${api}/api/v1/products`, { method: 'POST', body: '{}' })).status, 401)
}

test(
  'every PromQL expression of the rules, dashboard and runbook parses on a real Prometheus and names only exported metrics and labels',
  { skip, timeout: 300_000 },
  async (t) => {
    if (missing) assert.fail(`REQUIRE_SERVICES=1 but ${missing}`)
    // The whole app, listening on a loopback port like the server does (in process: no child to compile).
    const app = await build(t, {
      REDIS_URL: redisUrl as string,
      REDIS_KEY_PREFIX: redisPrefix(t),
      RATE_LIMIT_ENABLED: 'true',
      RATE_LIMIT_MAX_REQUESTS: '100000',
      GIT_COMMIT: 'c0ffee1'
    })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const address = app.server.address()
    assert.ok(address && typeof address === 'object')
    const api = { url: `http://127.0.0.1:${address.port}`, port: address.port }
    const key = await apiKey(app, 'admin')
    // Before the first scrape, so every series exists; again after it, so counters and histograms move.
    await exercise(api.url, key, 1)
    const prometheus = await startPrometheus(t, api.port)
    const scraped = async (expr: string) => ((await query(prometheus.url, expr)).data?.result.length ?? 0) > 0
    await eventually(() => scraped('up{job="catalog-api"} == 1'), 60_000, 'the API is scraped')
    await exercise(api.url, key, 2)
    await eventually(
      () => scraped('slo_class:http_request_duration_seconds:p95_5m{slo_class="cached_read"} >= 0'),
      60_000,
      'the rules see the second round of requests'
    )

    const families = exportedFamilies(await (await fetch(`${api.url}/metrics`)).text())
    const documentedLabels = new Map(documentedMetrics().map((d) => [d.name, d.labels]))
    const familyOf = new Map<string, string>()
    for (const [name, family] of families) for (const series of family.series) familyOf.set(series, name)
    const rules = loadRules()
    const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])))

    // Every recording rule yields data (each group evaluates on its own tick: wait for all of them); the label
    // names of its series are the ones queries may match on.
    const recordedLabels = new Map<string, Set<string>>()
    for (let deadline = Date.now() + 60_000; ; await sleep(250)) {
      for (const name of recorded) {
        if (recordedLabels.has(name)) continue
        const result = (await query(prometheus.url, name)).data?.result ?? []
        if (result.length) recordedLabels.set(name, new Set(result.flatMap((r) => Object.keys(r.metric))))
      }
      if (recordedLabels.size === recorded.size || Date.now() > deadline) break
    }
    assert.deepEqual(
      [...recorded].filter((name) => !recordedLabels.has(name)),
      [],
      'recording rules without data'
    )

    const expressions = [
      ...rules.map((r) => ({ where: `rule ${r.record ?? r.alert}`, expr: r.expr })),
      ...dashboardExpressions(loadDashboard()).map((e) => ({ ...e, expr: substituteVariables(e.expr) })),
      ...[...runbookSections(runbookText()).values()].flatMap((s) =>
        s.queries.map((expr) => ({ where: `runbook ${s.heading}`, expr }))
      )
    ]
    t.diagnostic(`${expressions.length} expressions, ${families.size} exported families, ${recorded.size} recorded`)
    assert.ok(expressions.length > 80)
    for (const { where, expr } of expressions) {
      const result = await query(prometheus.url, expr)
      assert.equal(result.status, 'success', `${where}: ${expr}\n${result.error}`)
      const used = selectors(expr)
      assert.ok(used.length > 0, `${where} reads some metric`)
      for (const { metric, labels } of used) {
        let known: Set<string>
        if (recorded.has(metric)) known = recordedLabels.get(metric) ?? new Set()
        else if (metric === 'up') known = new Set(['job', 'instance'])
        else {
          const family = familyOf.get(metric)
          assert.ok(family, `${where}: ${metric} is not exported by the service`)
          known = new Set([...(documentedLabels.get(family) ?? []), 'job', 'instance'])
          if (metric.endsWith('_bucket')) known.add('le')
        }
        for (const label of labels) assert.ok(known.has(label), `${where}: ${metric} has no label ${label}`)
      }
    }

    // The build is labelled as configured, and what the latency classes are built from reaches Prometheus.
    const running = (await query(prometheus.url, 'catalog_build_info')).data?.result[0]?.metric
    assert.equal(running?.commit, 'c0ffee1')
    assert.equal(running?.node_version, process.version)
    for (const slo of ['cached_read', 'uncached_read', 'write'])
      assert.ok(
        await scraped(`slo_class:http_request_duration_seconds:p95_5m{slo_class="${slo}"} >= 0`),
        `p95 of ${slo} is a number`
      )
    assert.ok(await scraped('job:slo_availability_errors:ratio_rate5m == 0'), 'no 5xx: the availability ratio is 0')
  }
)
