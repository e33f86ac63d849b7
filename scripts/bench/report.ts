import { execFileSync } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { dirname, resolve } from 'node:path'
import type { LoadResult } from './load.js'
import type { ScenarioName } from './options.js'

export interface ScenarioResult {
  name: ScenarioName
  description?: string
  responseBytes?: number
  details?: Record<string, unknown>
  api?: LoadResult
  /** node:http answering a body of the same size with two headers. */
  ceiling?: LoadResult
  /** api req/s ÷ ceiling req/s, over all rounds */
  ratio?: number
  /** The same per round (the API and the ceiling measured back to back) */
  roundRatios?: number[]
  /** node:http replaying the API's exact answer: same status, headers and body bytes. */
  exactCeiling?: LoadResult
  /** api req/s ÷ exact ceiling req/s, over all rounds */
  exactRatio?: number
  exactRoundRatios?: number[]
  /** The seed design's create, measured in the same rounds (write scenarios with --seed-design). */
  seedDesign?: LoadResult
  /** api req/s ÷ seed design req/s, over all rounds, and per round */
  seedRatio?: number
  seedRoundRatios?: number[]
  /** The driver floor (the API's query on bare node:http, scripts/bench/floor.ts), in the same rounds. */
  driverFloor?: LoadResult
  /** api req/s ÷ driver floor req/s, over all rounds, and per round */
  floorRatio?: number
  floorRoundRatios?: number[]
  /** Why the scenario could not be measured. */
  failure?: string
}

export function machineInfo() {
  const cpus = os.cpus()
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    totalMemoryMb: Math.round(os.totalmem() / 2 ** 20)
  }
}

/** The commit measured, when this is a git checkout (a dirty tree measures uncommitted code). */
export function gitInfo(root: string): { commit: string; dirty: boolean } | undefined {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    return { commit: git('rev-parse', 'HEAD'), dirty: git('status', '--porcelain', '--untracked-files=no') !== '' }
  } catch {
    return undefined
  }
}

const fixed = (n: number | undefined, digits: number) => (n === undefined ? '-' : n.toFixed(digits))

export function formatTable(results: ScenarioResult[]): string {
  const header = [
    'scenario',
    'req/s',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    'non-2xx',
    'errors',
    'ceiling req/s',
    'ratio',
    'exact ceiling req/s',
    'exact ratio',
    'seed design req/s',
    'vs seed',
    'floor req/s',
    'vs floor'
  ]
  const rows = results.map((r) =>
    r.failure
      ? [r.name, 'FAILED', '', '', '', '', '', '', '', '', '', '', '', '', '']
      : [
          r.name,
          fixed(r.api?.reqPerSec, 1),
          fixed(r.api?.latencyMs.p50, 2),
          fixed(r.api?.latencyMs.p95, 2),
          fixed(r.api?.latencyMs.p99, 2),
          String(r.api?.non2xx ?? '-'),
          String(r.api?.errors ?? '-'),
          fixed(r.ceiling?.reqPerSec, 1),
          fixed(r.ratio, 3),
          fixed(r.exactCeiling?.reqPerSec, 1),
          fixed(r.exactRatio, 3),
          fixed(r.seedDesign?.reqPerSec, 1),
          fixed(r.seedRatio, 2),
          fixed(r.driverFloor?.reqPerSec, 1),
          fixed(r.floorRatio, 2)
        ]
  )
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)))
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')
  const failures = results.filter((r) => r.failure).map((r) => `${r.name} FAILED: ${r.failure}`)
  const unexpected = results.flatMap((r) => {
    const codes = Object.entries(r.api?.statusCodes ?? {}).filter(([code]) => !code.startsWith('2'))
    return codes.length ? [`${r.name}: non-2xx answers ${codes.map(([code, n]) => `${code} × ${n}`).join(', ')}`] : []
  })
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), ...failures, ...unexpected].join(
    '\n'
  )
}

/** `bench-20250101T120000Z.json`: ISO 8601 basic format, which every file system accepts. */
export function defaultReportPath(root: string, at: Date): string {
  const stamp = at
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/[-:]/g, '')
  return resolve(root, 'bench-results', `bench-${stamp}.json`)
}

export async function writeReport(path: string, report: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`)
}
