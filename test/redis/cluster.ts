import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export const haveRedisServer = () =>
  spawnSync('redis-server', ['--version']).status === 0 && spawnSync('redis-cli', ['--version']).status === 0

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/** A port whose cluster bus port (port + 10000) is free as well. */
async function clusterPort(taken: number[]): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 20000)
    if (taken.includes(port)) continue
    if ((await portFree(port)) && (await portFree(port + 10000))) return port
  }
}

export interface LocalCluster {
  nodes: string
  ports: number[]
  stop(): Promise<void>
}

/** Three masters (no replicas) on loopback in a temporary folder, joined with `redis-cli --cluster create`. */
export async function startCluster(): Promise<LocalCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'catalog-redis-cluster-'))
  const ports: number[] = []
  for (let i = 0; i < 3; i++) ports.push(await clusterPort(ports))
  const children: ChildProcess[] = ports.map((port) =>
    spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-node-timeout',
        '2000',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--protected-mode',
        'no'
      ],
      { stdio: 'ignore' }
    )
  )
  const stop = async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  }
  try {
    for (const port of ports)
      await waitFor(async () => (await run('redis-cli', ['-p', String(port), 'ping'])).stdout.trim() === 'PONG')
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes'
    ])
    for (const port of ports) {
      await waitFor(async () =>
        (await run('redis-cli', ['-p', String(port), 'cluster', 'info'])).stdout.includes('cluster_state:ok')
      )
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { nodes: ports.map((p) => `127.0.0.1:${p}`).join(','), ports, stop }
}

async function waitFor(check: () => Promise<boolean>, ms = 15_000) {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      if (await check()) return
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error('redis cluster did not come up')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
