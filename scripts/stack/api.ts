// The API instances: the built server (dist/, as `npm start` runs it) on free loopback ports.
import { join } from 'node:path'
import { freePort } from '../../src/lib/free-port.js'
import { projectRoot } from '../../src/lib/project-root.js'
import { type Managed, httpOk, launch, waitFor } from './processes.js'

export interface ApiInstance {
  index: number
  port: number
  url: string
  log: string
  process(): Managed | undefined
  start(): Promise<void>
  /** SIGTERM and wait: the instance drains for SHUTDOWN_DRAIN_MS, finishes its requests and exits. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined>
  kill(): Promise<void>
}

export function apiInstance(index: number, port: number, dir: string, env: Record<string, string>): ApiInstance {
  const root = projectRoot()
  const log = join(dir, `api-${index + 1}.log`)
  let current: Managed | undefined
  const url = `http://127.0.0.1:${port}`
  return {
    index,
    port,
    url,
    log,
    process: () => current,
    async start() {
      if (current?.running()) return
      current = launch(
        `api-${index + 1}`,
        process.execPath,
        ['--import', './dist/src/instrument.js', 'dist/src/server.js'],
        {
          cwd: root,
          log,
          env: { PATH: process.env.PATH, ...env, PORT: String(port) }
        }
      )
      const started = current
      await waitFor(`api-${index + 1} on port ${port}`, async () => {
        if (!started.running()) throw new Error(`api-${index + 1} exited; see ${log}`)
        return httpOk(`${url}/health`)
      })
    },
    async stop() {
      const proc = current
      if (!proc?.running()) return undefined
      await proc.stop('SIGTERM', 60_000)
      return proc.exited
    },
    async kill() {
      await current?.stop('SIGKILL')
    }
  }
}

export async function apiPorts(count: number): Promise<number[]> {
  const ports: number[] = []
  while (ports.length < count) {
    const port = await freePort()
    if (!ports.includes(port)) ports.push(port)
  }
  return ports
}
