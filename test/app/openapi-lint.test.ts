import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { projectRoot } from '../../src/lib/project-root.js'
import { build } from '../helper.js'

const run = promisify(execFile)
const bin = (name: string) => join(projectRoot(), 'node_modules', '.bin', name)

interface Finding {
  code: string
  severity: number
  path: string[]
  message: string
}

test('when the served OpenAPI document is linted with the OWASP ruleset and Redocly recommended, then neither finds an error', async (t) => {
  const app = await build(t)
  const dir = await mkdtemp(join(tmpdir(), 'catalog-openapi-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'openapi.json')
  await writeFile(file, (await app.inject({ method: 'GET', url: '/openapi.json' })).body)

  const spectral = run(
    bin('spectral'),
    ['lint', file, '--ruleset', join(projectRoot(), '.spectral.yaml'), '--format', 'json', '--fail-severity', 'error'],
    { cwd: projectRoot(), maxBuffer: 64 << 20 }
  ).catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '' }))
  const redocly = run(
    bin('redocly'),
    ['lint', file, '--config', join(projectRoot(), 'redocly.yaml'), '--format', 'json'],
    {
      cwd: dir,
      maxBuffer: 64 << 20,
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' }
    }
  ).catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '' }))

  const spectralOut = await spectral
  const findings = JSON.parse(spectralOut.stdout || 'null') as Finding[] | null
  assert.ok(Array.isArray(findings), `spectral ran: ${spectralOut.stderr}`)
  const errors = findings.filter((f) => f.severity === 0)
  assert.deepEqual(
    errors.map((f) => `${f.code} at ${f.path.join('.')}: ${f.message}`),
    [],
    'Spectral (OWASP) errors'
  )
  // The ruleset is really applied: its warnings show up (string-restricted asks for a pattern on free text).
  assert.ok(
    findings.some((f) => f.code.startsWith('owasp:')),
    'the OWASP ruleset ran'
  )

  const redoclyOut = await redocly
  const report = JSON.parse(redoclyOut.stdout || 'null') as {
    totals: { errors: number }
    problems: { ruleId: string; severity: string; message: string }[]
  } | null
  assert.ok(report, `redocly ran: ${redoclyOut.stderr}`)
  assert.deepEqual(
    report.problems.filter((p) => p.severity === 'error').map((p) => `${p.ruleId}: ${p.message}`),
    [],
    'Redocly errors'
  )
  assert.equal(report.totals.errors, 0)
})
