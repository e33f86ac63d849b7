import { type ChildProcess, spawn, type SpawnOptions } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'

const started = Date.now()

/** Progress goes to stderr, so stdout carries only the results table. */
export function note(message: string): void {
  process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${message}\n`)
}

export const elapsedSeconds = () => (Date.now() - started) / 1000

export async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  const timer = new AbortController()
  try {
    return await Promise.race([
      work,
      sleep(ms, undefined, { signal: timer.signal }).then(() =>
        Promise.reject(new Error(`${what}: no answer within ${ms} ms`))
      )
    ])
  } finally {
    timer.abort()
  }
}

/**
 * What must be undone before the process ends (children, connections, the embedded PostgreSQL), run in
 * reverse order of registration, once, whether the run succeeded, failed or was interrupted.
 */
export class Cleanup {
  private readonly steps = new Map<number, { name: string; run: () => Promise<void> }>()
  private nextId = 0
  private running: Promise<void> | undefined

  /** Registers a step; the returned function runs it now (and only once). */
  add(name: string, run: () => Promise<void>): () => Promise<void> {
    const id = this.nextId++
    this.steps.set(id, { name, run })
    return async () => {
      const step = this.steps.get(id)
      if (!step) return
      this.steps.delete(id)
      await step.run()
    }
  }

  runAll(): Promise<void> {
    this.running ??= (async () => {
      for (const [id, step] of [...this.steps].reverse()) {
        this.steps.delete(id)
        try {
          await withTimeout(step.run(), 30_000, step.name)
        } catch (err) {
          note(`cleanup: ${step.name} failed: ${(err as Error).message}`)
        }
      }
    })()
    return this.running
  }
}

let childOutputMuted = false

/** After Ctrl+C the children's complaints about each other going away are noise. */
export function muteChildOutput(): void {
  childOutputMuted = true
}

const hasExited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null

export function exited(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

/** SIGTERM, then SIGKILL if the child is still there after `graceMs`. */
export async function stopChild(child: ChildProcess, name: string, graceMs = 15_000): Promise<void> {
  if (hasExited(child)) return
  child.kill('SIGTERM')
  const timer = new AbortController()
  const gone = await Promise.race([
    exited(child).then(() => true),
    sleep(graceMs, false, { signal: timer.signal }).catch(() => false)
  ])
  timer.abort()
  if (!gone) {
    note(`${name} did not stop within ${graceMs} ms; killing it`)
    child.kill('SIGKILL')
    await exited(child)
  }
}

export interface TrackedChild {
  child: ChildProcess
  stop: () => Promise<void>
  /** What it printed last, for error messages. */
  recentOutput: () => string
  /** Starts or stops copying its output to our stderr. */
  echo: (on: boolean) => void
}

/**
 * Spawns a child that `cleanup` stops. Its output is kept for error messages and, while echoing, copied to
 * our stderr with `prefix` on every line, up to `maxEchoedLines` (a server failing every request would flood).
 */
export function spawnTracked(
  cleanup: Cleanup,
  name: string,
  command: string,
  args: string[],
  options: SpawnOptions & { prefix?: string; echo?: boolean; maxEchoedLines?: number } = {}
): TrackedChild {
  const { prefix = '', echo = false, maxEchoedLines = Number.POSITIVE_INFINITY, ...spawnOptions } = options
  const child = spawn(command, args, { ...spawnOptions, stdio: ['ignore', 'pipe', 'pipe'] })
  const tail: string[] = []
  let echoing = echo
  let echoed = 0
  const forward = (chunk: Buffer) => {
    const text = chunk.toString('utf8')
    tail.push(text)
    if (tail.length > 50) tail.shift()
    if (!echoing || childOutputMuted || echoed > maxEchoedLines) return
    for (const line of text.split(/(?<=\n)/)) {
      if (echoed === maxEchoedLines) {
        process.stderr.write(`${prefix}(${name}: further output not shown)\n`)
        echoed += 1
        return
      }
      process.stderr.write(`${prefix}${line}`)
      if (line.endsWith('\n')) echoed += 1
    }
  }
  child.stdout?.on('data', forward)
  child.stderr?.on('data', forward)
  const stop = cleanup.add(`stop ${name}`, () => stopChild(child, name))
  child.once('exit', () => void stop()) // an exited child needs no stopping
  return {
    child,
    stop,
    recentOutput: () => tail.join('').trim(),
    echo: (on) => {
      echoing = on
    }
  }
}

/** Runs a command to completion, its output on our stderr; fails on a non-zero exit. */
export async function runCommand(cleanup: Cleanup, command: string, args: string[], cwd: string): Promise<void> {
  const { child, recentOutput } = spawnTracked(cleanup, command, command, args, {
    cwd,
    prefix: '  ',
    echo: true,
    shell: process.platform === 'win32'
  })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (exitCode) => resolve(exitCode))
  })
  if (code !== 0)
    throw new Error(`${command} ${args.join(' ')} exited with ${code}${recentOutput() ? `:\n${recentOutput()}` : ''}`)
}

/** Polls `url` until it answers 200; fails when `child` exits first or after `timeoutMs`. */
export async function waitForHttp200(
  url: string,
  child: ChildProcess,
  timeoutMs: number,
  recentOutput: () => string
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = 'no answer yet'
  while (Date.now() < deadline) {
    if (hasExited(child)) {
      throw new Error(
        `the server exited (code ${child.exitCode ?? child.signalCode}) before ${url} answered:\n${recentOutput()}`
      )
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) })
      await res.arrayBuffer()
      if (res.status === 200) return
      last = `HTTP ${res.status}`
    } catch (err) {
      last = (err as Error).message
    }
    await sleep(100)
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${last}):\n${recentOutput()}`)
}
