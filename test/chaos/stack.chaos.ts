// The chaos suite: every scenario on one production-like stack (scripts/stack) under steady load through nginx.
// CHAOS_FORM=short (CI: each fault once, 3 s outages) or full (10 s outages). Run with `npm run test:chaos`.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { NGINX } from '../../scripts/stack/nginx.js'
import { PROMETHEUS } from '../../scripts/stack/prometheus.js'
import { processesOf, type Stack, startStack } from '../../scripts/stack/stack.js'
import { projectRoot } from '../../src/lib/project-root.js'
import { type ScenarioResult, writeReliability } from './report.js'
import { primaryOutage, replicaRestart } from './scenarios/database.js'
import { instanceKilled, rollingRestart } from './scenarios/instances.js'
import { redisOutage } from './scenarios/redis.js'
import { concurrentIdempotentPosts, sharedRateLimit } from './scenarios/shared-state.js'
import { type Chaos, type Form, request, within } from './support.js'

const form: Form = process.env.CHAOS_FORM === 'short' ? 'short' : 'full'
const missing = [
  [NGINX, 'nginx (apt-get install nginx)'],
  [PROMETHEUS, 'prometheus (apt-get install prometheus)']
]
  .filter(([file]) => !existsSync(file!))
  .map(([, what]) => what)
if (spawnSync('redis-server', ['--version']).status !== 0) missing.push('redis-server')
if (missing.length && process.env.REQUIRE_SERVICES === '1')
  throw new Error(`REQUIRE_SERVICES=1 but the stack needs ${missing.join(', ')}`)
const skip = missing.length ? `the stack needs ${missing.join(', ')}` : false

const SEEDED = 500
let stack: Stack | undefined
const results: ScenarioResult[] = []
let current: ScenarioResult | undefined

const chaos = (): Chaos => {
  if (!stack) throw new Error('the stack did not start')
  return {
    stack,
    form,
    outageMs: form === 'full' ? 10_000 : 3000,
    calmMs: form === 'full' ? 3000 : 1000,
    seededProducts: SEEDED,
    report(_name, figures) {
      if (current) current.figures = figures
      console.log(`# ${current?.name}: ${JSON.stringify(figures)}`)
    }
  }
}

function scenario(name: string, fn: (c: Chaos) => Promise<void>) {
  test(name, { skip, timeout: 180_000 }, async () => {
    current = { name, passed: false, figures: {} }
    results.push(current)
    try {
      await fn(chaos())
      current.passed = true
    } catch (err) {
      current.error = err instanceof Error ? err.message : String(err)
      throw err
    }
  })
}

before(async () => {
  if (skip) return
  stack = await startStack({ seedProducts: SEEDED, log: (line) => console.log(`# ${line}`) })
})

let postgresKind = 'unknown'
after(async () => {
  const kind = stack?.postgres.kind ?? postgresKind
  await stack?.stop()
  if (!skip && results.length) console.log(`# figures written to ${await writeReliability(form, kind, results)}`)
})

test(
  "when the stack runs, then Prometheus scrapes every instance and has loaded the repository's rules",
  { skip },
  async () => {
    const { stack: s } = chaos()
    const rulesDir = join(projectRoot(), 'prometheus', 'rules')
    const ruleFiles = existsSync(rulesDir) ? readdirSync(rulesDir).filter((f) => f.endsWith('.yml')) : []
    await within('Prometheus to scrape all three instances', 20_000, async () => {
      const res = await request(`${s.prometheus.url}/api/v1/targets`)
      const targets = res.json().data.activeTargets as { health: string; scrapeUrl: string }[]
      return targets.length === s.instances.length && targets.every((t) => t.health === 'up')
    })
    const groups = (await request(`${s.prometheus.url}/api/v1/rules`)).json().data.groups as { file: string }[]
    const loaded = new Set(groups.map((g) => g.file.split('/').at(-1)))
    for (const file of ruleFiles) assert.ok(loaded.has(file), `rules of prometheus/rules/${file} loaded`)
  }
)

// Anonymous quota first: nothing else in the suite counts against it.
scenario('Shared rate limit across three instances', sharedRateLimit)
scenario('10 concurrent identical POSTs with one Idempotency-Key', concurrentIdempotentPosts)
scenario('Redis killed, then restarted', (c) => redisOutage(c, 'kill'))
scenario('Redis frozen (SIGSTOP)', (c) => redisOutage(c, 'freeze'))
scenario('Replica stopped, then started', replicaRestart)
scenario('Primary stopped', primaryOutage)
scenario('One API instance SIGKILLed mid-writes', instanceKilled)
scenario('Rolling restart', rollingRestart)

test('when the stack stops, then every process it started has exited and its folder is gone', { skip }, async () => {
  const running = stack ? processesOf(stack) : []
  assert.equal(running.length, 8, 'two PostgreSQL servers, Redis, three instances, nginx, Prometheus')
  const dir = stack?.dir ?? ''
  const kind = stack?.postgres.kind ?? 'unknown'
  await stack?.stop()
  stack = undefined
  postgresKind = kind
  for (const proc of running) {
    assert.equal(proc.running(), false, `${proc.name} (pid ${proc.pid}) still runs`)
    assert.throws(() => process.kill(proc.pid, 0), `pid ${proc.pid} is gone`)
  }
  assert.equal(existsSync(dir), false)
})
