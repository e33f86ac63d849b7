import { type ChildProcess, spawn } from 'node:child_process'
import { freePort } from '../src/lib/free-port.js'
import { projectRoot } from '../src/lib/project-root.js'
import type { ConnectionTarget } from '../src/db/pool.js'
import { defer } from './helper.js'

type Hooks = Parameters<typeof defer>[0]

export interface ServerProcess {
  url: string
  port: number
  child: ChildProcess
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/**
 * The real server (src/server.ts, with Sentry's instrument first; test/test-server.ts with `testRoutes`) as a child process on `database`,
 * listening on a free port; killed after the test if it is still running.
 */
export async function startServer(
  t: Hooks,
  database: ConnectionTarget,
  env: Record<string, string> = {},
  /** testRoutes: the entry point test/test-server.ts, which adds the fault-injection routes (test-routes.ts). */
  options: { testRoutes?: boolean } = {}
): Promise<ServerProcess> {
  const port = await freePort()
  const entry = options.testRoutes ? 'test/test-server.ts' : 'src/server.ts'
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', './src/instrument.ts', entry], {
    cwd: projectRoot(),
    env: {
      PATH: process.env.PATH,
      DOTENV_CONFIG_PATH: '/nonexistent',
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      PORT: String(port),
      DB_HOST: database.host,
      DB_PORT: String(database.port),
      DB_USER: database.user,
      DB_PASSWORD: database.password,
      DB_NAME: database.database,
      MIGRATE_ON_STARTUP: 'false',
      PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0',
      RATE_LIMIT_ENABLED: 'false',
      ...env
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout?.on('data', (d) => (output += d))
  child.stderr?.on('data', (d) => (output += d))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal }))
  )
  defer(t, () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 90_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode} before listening:\n${output}`)
    try {
      const res = await fetch(`${url}/health/live`)
      if (res.ok) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`server did not listen within 90 s:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return { url, port, child, output: () => output, exited }
}

/** The server with exactly `env` (plus PATH and no .env file), run until it exits by itself within `timeoutMs`. */
export async function runUntilExit(
  env: Record<string, string>,
  timeoutMs = 30_000
): Promise<{ code: number | null; output: string; ms: number }> {
  const started = Date.now()
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: projectRoot(),
    env: { PATH: process.env.PATH, DOTENV_CONFIG_PATH: '/nonexistent', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
  clearTimeout(timer)
  return { code, output, ms: Date.now() - started }
}

/** The JSON log lines the process printed, parsed. */
export function logLines(server: ServerProcess): Record<string, unknown>[] {
  return server
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}
