// docs/reliability.md: the figures of the last chaos run, with its date and machine.
import { spawnSync } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { projectRoot } from '../../src/lib/project-root.js'
import type { Form } from './support.js'

export interface ScenarioResult {
  name: string
  passed: boolean
  error?: string
  figures: Record<string, unknown>
}

/** The first line a tool prints about its version (nginx prints it on stderr). */
const version = (file: string, args: string[]) => {
  const out = spawnSync(file, args, { encoding: 'utf8' })
  return `${out.stdout ?? ''}${out.stderr ?? ''}`.trim().split('\n')[0] ?? 'unknown'
}

function machine(postgresKind: string): string[] {
  const cpus = os.cpus()
  return [
    `- Host: ${os.hostname()}, ${os.type()} ${os.release()} ${os.arch()}`,
    `- CPU: ${cpus.length} × ${cpus[0]?.model ?? 'unknown'}; memory ${Math.round(os.totalmem() / 2 ** 30)} GiB; load average at the end ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
    `- Node ${process.version}; ${version('/usr/sbin/nginx', ['-v'])}; ${version('redis-server', ['--version'])}; ${version('/usr/bin/prometheus', ['--version'])}; PostgreSQL ${postgresKind} binaries`
  ]
}

function cell(value: unknown): string {
  if (value && typeof value === 'object')
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${k} ${v && typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
      .join(', ')
  return String(value)
}

export async function writeReliability(form: Form, postgresKind: string, results: ScenarioResult[]): Promise<string> {
  const lines = [
    '# Reliability figures',
    '',
    'Written by `npm run test:chaos` at the end of each run: this page always shows the last one. The scenarios, the',
    'stack they run on and how to run them are described in',
    '[operations.md](operations.md#production-like-stack-and-chaos-tests).',
    '',
    `Last run: ${new Date().toISOString()}, ${form} form (${form === 'full' ? 'faults of 10 s, 3 s of steady load around each' : 'faults of 3 s, 1 s of steady load around each'}).`,
    '',
    ...machine(postgresKind),
    '',
    'Load: 4 clients through nginx, each sending its next request 10 ms after the last answer (45 % list pages,',
    '40 % single products, 15 % creates with an Idempotency-Key), on loopback. Latencies in ms, as the client saw them.',
    '`failed` counts requests with no HTTP answer or a status ≥ 500.',
    ''
  ]
  for (const result of results) {
    lines.push(`## ${result.name}: ${result.passed ? 'passed' : 'FAILED'}`, '')
    if (result.error) lines.push('```', result.error.slice(0, 1500), '```', '')
    lines.push('| figure | value |', '| --- | --- |')
    for (const [key, value] of Object.entries(result.figures))
      lines.push(`| ${key} | ${cell(value).replaceAll('|', '\\|')} |`)
    lines.push('')
  }
  const file = join(projectRoot(), 'docs', 'reliability.md')
  await writeFile(file, lines.join('\n'))
  return file
}
