// The stack's own Redis on a free loopback port (never the machine's shared one), configured as the
// production one should be: nothing on disk, a memory cap, and only keys with a TTL evicted (volatile-lru).
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { freePort } from '../../src/lib/free-port.js'
import { type Managed, launch, waitFor } from './processes.js'

export interface RedisNode {
  port: number
  url: string
  process(): Managed | undefined
  start(): Promise<void>
  /** SIGKILL: the data is gone, as after a crash of a cache without persistence. */
  kill(): Promise<void>
  /** SIGSTOP / SIGCONT: the process holds its connections but answers nothing (a silent network). */
  freeze(): void
  thaw(): void
  stop(): Promise<void>
}

/** PING over a plain socket: no redis-cli process per poll on a machine that is busy with the fault. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port, timeout: 1000 })
    let answer = ''
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      answer += chunk.toString()
      if (answer.includes('\r\n')) {
        socket.destroy()
        resolve(answer.startsWith('+PONG'))
      }
    })
    socket.on('error', () => resolve(false))
    socket.on('timeout', () => {
      socket.destroy()
      resolve(false)
    })
  })
}

export async function startRedis(dir: string): Promise<RedisNode> {
  const port = await freePort()
  let current: Managed | undefined
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--maxmemory',
    '128mb',
    '--maxmemory-policy',
    'volatile-lru'
  ]
  const redis: RedisNode = {
    port,
    url: `redis://127.0.0.1:${port}`,
    process: () => current,
    async start() {
      if (current?.running()) return
      current = launch('redis', 'redis-server', args, { log: join(dir, 'redis.log'), cwd: dir })
      const started = current
      await waitFor(`Redis on port ${port}`, async () => {
        if (!started.running()) throw new Error(`redis-server exited; see ${join(dir, 'redis.log')}`)
        return ping(port)
      })
    },
    async kill() {
      await current?.stop('SIGKILL')
    },
    freeze() {
      if (current?.running()) process.kill(current.pid, 'SIGSTOP')
    },
    thaw() {
      if (current?.running()) process.kill(current.pid, 'SIGCONT')
    },
    async stop() {
      await current?.stop('SIGTERM', 5000)
    }
  }
  await redis.start()
  return redis
}
