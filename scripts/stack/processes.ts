// Child processes the stack owns: spawned with their output in a log file, stopped by PID and nothing else.
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { createConnection } from 'node:net'
import { promisify } from 'node:util'

export const run = promisify(execFile)
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export interface Ids {
  uid: number
  gid: number
}

/** As root, servers that refuse to run as root (PostgreSQL) run as the `postgres` user. */
export async function postgresIds(): Promise<Ids | undefined> {
  if (process.getuid?.() !== 0) return undefined
  const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])])
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) }
}

export interface Managed {
  name: string
  child: ChildProcess
  pid: number
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  running(): boolean
  /** Sends `signal` and waits up to `ms` for the exit, then SIGKILLs the same PID. */
  stop(signal?: NodeJS.Signals, ms?: number): Promise<void>
}

export function launch(
  name: string,
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; log: string; ids?: Ids }
): Managed {
  const out = createWriteStream(opts.log, { flags: 'a' })
  const child = spawn(file, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: a Ctrl+C in the terminal reaches the stack, which stops each child in order.
    detached: true,
    ...(opts.ids ?? {})
  })
  child.stdout?.pipe(out, { end: false })
  child.stderr?.pipe(out, { end: false })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal }))
  )
  child.once('error', (err) => out.write(`\n${name}: ${err.message}\n`))
  void exited.then(() => setTimeout(() => out.end(), 100))
  if (child.pid === undefined) throw new Error(`${name}: could not start ${file}`)
  const pid = child.pid
  const running = () => child.exitCode === null && child.signalCode === null
  return {
    name,
    child,
    pid,
    exited,
    running,
    async stop(signal = 'SIGTERM', ms = 15_000) {
      if (!running()) return
      // A frozen process (SIGSTOP) would never act on the signal.
      process.kill(pid, 'SIGCONT')
      process.kill(pid, signal)
      const timer = setTimeout(() => running() && process.kill(pid, 'SIGKILL'), ms)
      await exited
      clearTimeout(timer)
    }
  }
}

/** Polls `check` every 100 ms until it returns true, or fails after `ms` naming `what`. */
export async function waitFor(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      if (await check()) return
    } catch {
      // not there yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(100)
  }
}

export async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) })
  await res.arrayBuffer()
  return res.ok
}

/** Whether something accepts TCP connections on `host:port` (within a second). */
export function tcpAccepts(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port, timeout: 1000 })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
    socket.once('timeout', () => {
      socket.destroy()
      resolve(false)
    })
  })
}
