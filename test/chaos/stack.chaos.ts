// The chaos suite: every scenario on one production-like stack (scripts/stack) under steady load through nginx.
// CHAOS_FORM=short (CI: each fault once, 3 s outages) or full (10 s outages). Run with `npm run test:chaos`.
import { existsSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { after, before, test } from 'node:test'
import { NGINX } from '../../scripts/stack/nginx.js'
import { PROMETHEUS } from '../../scripts/stack/prometheus.js'
import { type Stack, startStack } from '../../scripts/stack/stack.js'
import { type ScenarioResult, writeReliability } from './report.js'
import { primaryOutage, replicaRestart } from './scenarios/database.js'
import { instanceKilled, rollingRestart } from './scenarios/instances.js'
import { redisOutage } from './scenarios/redis.js'
import { concurrentIdempotentPosts, sharedRateLimit } from './scenarios/shared-state.js'
import type { Chaos, Form } from './support.js'

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

after(async () => {
  const kind = stack?.postgres.kind ?? 'unknown'
  await stack?.stop()
  if (!skip && results.length) console.log(`# figures written to ${await writeReliability(form, kind, results)}`)
})

// Anonymous quota first: nothing else in the suite counts against it.
scenario('Shared rate limit across three instances', sharedRateLimit)
scenario('10 concurrent identical POSTs with one Idempotency-Key', concurrentIdempotentPosts)
scenario('Redis killed, then restarted', (c) => redisOutage(c, 'kill'))
scenario('Redis frozen (SIGSTOP)', (c) => redisOutage(c, 'freeze'))
scenario('Replica stopped, then started', replicaRestart)
scenario('Primary stopped', primaryOutage)
scenario('One API instance SIGKILLed mid-writes', instanceKilled)
scenario('Rolling restart', rollingRestart)
