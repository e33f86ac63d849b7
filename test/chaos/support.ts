// What the chaos scenarios share: the stack, the form (short in CI, full documented), plain HTTP helpers that
// can pick a loopback source address, a metrics reader and the figures each scenario reports.
import { readFile, readdir, readlink } from 'node:fs/promises'
import http from 'node:http'
import pg from 'pg'
import type { Stack } from '../../scripts/stack/stack.js'
import { type Load, type Sample, startLoad } from './load.js'

export type Form = 'short' | 'full'

export interface Chaos {
  stack: Stack
  form: Form
  /** Length of a fault: 10 s in the full form, 3 s in the short one. */
  outageMs: number
  /** Steady load before and after each fault. */
  calmMs: number
  seededProducts: number
  report(scenario: string, figures: Record<string, unknown>): void
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export interface Answer {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
  // Parsed JSON whose shape each scenario asserts, as inject's json() in the other tests.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json(): any
}

/** One HTTP request over a fresh connection, optionally from a given loopback address. */
export function request(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: unknown; from?: string } = {}
): Promise<Answer> {
  const body = opts.body === undefined ? undefined : JSON.stringify(opts.body)
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: opts.method ?? 'GET',
        agent: false,
        localAddress: opts.from,
        timeout: 10_000,
        headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...opts.headers }
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (text += chunk))
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json: () => JSON.parse(text) })
        )
      }
    )
    req.on('timeout', () => req.destroy(new Error('client timeout')))
    req.on('error', reject)
    req.end(body)
  })
}

export const bearer = (stack: Stack) => ({ authorization: `Bearer ${stack.adminKey}` })

/** The numeric samples of one metric on one instance, keyed by their label set as printed. */
export async function metric(instanceUrl: string, name: string): Promise<Map<string, number>> {
  const text = (await request(`${instanceUrl}/metrics`)).body
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    const at = line.lastIndexOf(' ')
    out.set(line.slice(name.length, at), Number(line.slice(at + 1)))
  }
  return out
}

export function loadOn(chaos: Chaos, overrides: Partial<Parameters<typeof startLoad>[0]> = {}): Load {
  return startLoad({
    url: chaos.stack.url,
    adminKey: chaos.stack.adminKey,
    productIds: chaos.seededProducts,
    concurrency: 4,
    pauseMs: 10,
    maxMs: 90_000,
    maxRequests: 30_000,
    ...overrides
  })
}

export async function onPrimary<T>(stack: Stack, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port: stack.postgres.primary.port,
    user: 'postgres',
    database: stack.database
  })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

/** Polls until `check` holds, returning the ms it took; fails after `ms`. */
export async function within(what: string, ms: number, check: () => boolean | Promise<boolean>): Promise<number> {
  const started = performance.now()
  for (;;) {
    if (
      await Promise.resolve()
        .then(check)
        .catch(() => false)
    )
      return Math.round(performance.now() - started)
    if (performance.now() - started > ms) throw new Error(`${what}: not within ${ms} ms`)
    await sleep(100)
  }
}

export const failures = (samples: Sample[]) => samples.filter((s) => s.status === 0 || s.status >= 500)

/**
 * The local ports of a process's TCP connections to `port` on loopback (Linux: its socket inodes in /proc/PID/fd
 * matched against /proc/net/tcp), which is how PostgreSQL's pg_stat_activity.client_port names its backends.
 */
export async function connectionPortsOf(pid: number, port: number): Promise<Set<number>> {
  const inodes = new Set<string>()
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [])) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1]
    if (inode) inodes.add(inode)
  }
  const ports = new Set<number>()
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const lines = (await readFile(table, 'utf8').catch(() => '')).split('\n').slice(1)
    for (const line of lines) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
      const fields = line.trim().split(/\s+/)
      const [local, remote, inode] = [fields[1], fields[2], fields[9]]
      if (!local || !remote || !inode || !inodes.has(inode)) continue
      if (Number.parseInt(remote.split(':')[1] ?? '', 16) !== port) continue
      ports.add(Number.parseInt(local.split(':')[1] ?? '', 16))
    }
  }
  return ports
}
