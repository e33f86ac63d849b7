// `npm run stack` as a user runs it (scripts/stack/index.ts): what it prints lets one reach every part, and SIGTERM
// stops everything it started, leaving no port open, no process and no folder behind. Skipped by name where nginx,
// Prometheus or redis-server is missing; under REQUIRE_SERVICES=1 (CI, where .ci/run installs them) it runs.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { test } from 'node:test'
import { NGINX } from '../../scripts/stack/nginx.js'
import { PROMETHEUS } from '../../scripts/stack/prometheus.js'
import { tcpAccepts } from '../../scripts/stack/processes.js'
import { projectRoot } from '../../src/lib/project-root.js'
import { defer } from '../helper.js'

const missing = [NGINX, PROMETHEUS].filter((file) => !existsSync(file))
if (spawnSync('redis-server', ['--version']).status !== 0) missing.push('redis-server')
const skip = missing.length && process.env.REQUIRE_SERVICES !== '1' ? `the stack needs ${missing.join(', ')}` : false

const exited = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve({ code: child.exitCode, signal: child.signalCode })
    else child.once('exit', (code, signal) => resolve({ code, signal }))
  })

test(
  'when `npm run stack` has printed its URLs and admin key, then each answers, and SIGTERM stops every process it started and removes its folder',
  { skip, timeout: 400_000 },
  async (t) => {
    if (missing.length) assert.fail(`REQUIRE_SERVICES=1 but the stack needs ${missing.join(', ')}`)
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/stack/index.ts'], {
      cwd: projectRoot(),
      env: { ...process.env, STACK_SEED_PRODUCTS: '0' },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let output = ''
    child.stdout?.on('data', (d) => (output += d))
    child.stderr?.on('data', (d) => (output += d))
    const done = exited(child)
    defer(t, async () => {
      // Whatever happened above: the stack's own SIGTERM path, then (never reached when it works) SIGKILL.
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
      await done
      clearTimeout(timer)
    })

    for (let deadline = Date.now() + 360_000; !/^\s+logs\s+\S+/m.test(output);) {
      if (child.exitCode !== null) assert.fail(`npm run stack exited with ${child.exitCode}:\n${output}`)
      if (Date.now() > deadline) assert.fail(`npm run stack printed no summary:\n${output}`)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    // The summary, after the progress lines (which name some parts too).
    const summary = output.slice(output.indexOf('Catalog API stack on'))
    const field = (name: string) => {
      const value = new RegExp(`^\\s+${name}\\s+(.+)$`, 'm').exec(summary)?.[1]?.trim()
      assert.ok(value, `npm run stack prints "${name}":\n${output}`)
      return value
    }
    const nginx = /^(http:\/\/127\.0\.0\.1:\d+)\/api\/v1\/products/.exec(field('API through nginx'))?.[1] ?? ''
    const instances = field('instances').split(/\s+/)
    const prometheus = field('Prometheus')
    const adminKey = field('admin API key')
    const postgres = /primary 127\.0\.0\.1:(\d+), replica 127\.0\.0\.1:(\d+)/.exec(field('PostgreSQL'))
    const redis = /^redis:\/\/127\.0\.0\.1:(\d+)$/.exec(field('Redis'))
    const dir = field('logs').replace(/\/\*\.log$/, '')
    assert.match(nginx, /^http:/)
    assert.equal(instances.length, 3)
    assert.ok(postgres && redis, output)
    assert.ok(existsSync(dir), `the stack's folder ${dir}`)

    assert.equal((await fetch(`${nginx}/health`)).status, 200)
    for (const url of instances) assert.equal((await fetch(`${url}/health`)).status, 200, url)
    assert.equal((await fetch(`${prometheus}/-/ready`)).status, 200)
    // The printed key is an admin's: it lists API keys through nginx, where no key is refused.
    assert.equal(
      (await fetch(`${nginx}/api/v1/api-keys`, { headers: { authorization: `Bearer ${adminKey}` } })).status,
      200
    )
    assert.equal((await fetch(`${nginx}/api/v1/api-keys`)).status, 401)
    const ports = [nginx, ...instances, prometheus].map((url) => Number(new URL(url).port))
    ports.push(Number(postgres[1]), Number(postgres[2]), Number(redis[1]))
    for (const port of ports) assert.equal(await tcpAccepts(port), true, `port ${port} is open while the stack runs`)

    child.kill('SIGTERM')
    const exit = await done
    assert.deepEqual(exit, { code: 0, signal: null }, output)
    assert.match(output, /SIGTERM: stopping the stack\n[\s\S]*stopped\n/)
    for (const port of ports) assert.equal(await tcpAccepts(port), false, `port ${port} still open after SIGTERM`)
    assert.equal(existsSync(dir), false, `${dir} removed`)
    const left = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter((line) => line.includes(dir))
    assert.deepEqual(left, [], 'no process names the stack folder')
  }
)
