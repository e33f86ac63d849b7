// Grades a running instance's headers with the MDN HTTP Observatory scanner (@mdn/mdn-http-observatory, offline).
import assert from 'node:assert/strict'
import { existsSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { seedCatalog } from '../../src/db/seed.js'
import { connect, createTestDatabase } from '../helper.js'
import { startServer } from '../server-process.js'

const SCANNER = '@mdn/mdn-http-observatory'

interface ObservatoryTest {
  expectation: string
  pass: boolean | null
  result: string | null
  scoreDescription: string | null
  scoreModifier: number | null
}

interface ObservatoryResult {
  scan: {
    grade: string
    score: number
    statusCode: number
    testsPassed: number
    testsFailed: number
    testsQuantity: number
  }
  tests: Record<string, ObservatoryTest>
}

/** Over plain HTTP these two cannot pass: they grade the redirect to HTTPS and HSTS served over HTTPS. */
const NEED_HTTPS: Record<string, string> = {
  redirection: 'redirection-missing',
  'strict-transport-security': 'hsts-not-implemented-no-https'
}

/**
 * The scanner's module, with the HSTS preload list it reads at scan time in place. Its postinstall downloads that
 * list; installs here run without it (allowScripts), so an empty list is written when absent: nothing is preloaded.
 */
async function loadScanner(): Promise<{ scan(host: string): Promise<ObservatoryResult> } | string> {
  let root: string
  try {
    root = dirname(createRequire(import.meta.url).resolve(`${SCANNER}/package.json`))
  } catch {
    return `${SCANNER} is not installed (npm ci)`
  }
  const preload = join(root, 'conf', 'hsts-preload.json')
  if (!existsSync(preload)) writeFileSync(preload, '{}\n')
  const specifier: string = SCANNER // untyped JavaScript package: typed here by the interface above
  return (await import(specifier)) as { scan(host: string): Promise<ObservatoryResult> }
}

const scanner = await loadScanner()
const required = process.env.REQUIRE_SERVICES === '1'
const skip = !required && typeof scanner === 'string' ? scanner : false

test(
  'the MDN HTTP Observatory passes every test on an API response except the two that need HTTPS',
  { skip, timeout: 90_000 },
  async (t) => {
    if (typeof scanner === 'string') assert.fail(`REQUIRE_SERVICES=1 but ${scanner}`)
    const database = await createTestDatabase(t)
    const client = await connect(t, database)
    await seedCatalog(client, { products: 5 })
    const server = await startServer(t, database, { LOG_LEVEL: 'warn' })

    const probe = await fetch(`${server.url}/api/v1/products/1`)
    await probe.arrayBuffer()
    assert.equal(probe.status, 200, 'the scanned path answers 200')

    // The scanner takes a host and builds http(s)://<host><path> from it, so a port and a path may follow the host.
    const result = await scanner.scan(`127.0.0.1:${server.port}/api/v1/products/1`)
    const { scan, tests } = result
    t.diagnostic(
      `Observatory: grade ${scan.grade}, score ${scan.score}, ${scan.testsPassed}/${scan.testsQuantity} passed, status ${scan.statusCode}`
    )
    for (const [name, r] of Object.entries(tests)) {
      const why = (r.scoreDescription ?? '')
        .replace(/<[^>]+>/g, '')
        .replace(/\s+/g, ' ')
        .trim()
      const modifier = r.scoreModifier ?? 0
      t.diagnostic(`${r.pass ? 'pass' : 'FAIL'} ${name}: ${r.result} (${modifier > 0 ? '+' : ''}${modifier}) ${why}`)
    }
    assert.equal(scan.statusCode, 200)
    assert.equal(scan.testsQuantity, 10)

    const failed = Object.entries(tests)
      .filter(([, r]) => !r.pass)
      .map(([name, r]) => [name, r.result] as const)
    assert.deepEqual(Object.fromEntries(failed), NEED_HTTPS, 'only the HTTPS-only tests fail')
    const expected: Record<string, string> = {
      'content-security-policy': 'csp-implemented-with-no-unsafe-default-src-none',
      cookies: 'cookies-not-found',
      'cross-origin-resource-sharing': 'cross-origin-resource-sharing-not-implemented',
      'referrer-policy': 'referrer-policy-private',
      'subresource-integrity': 'sri-not-implemented-response-not-html',
      'x-content-type-options': 'x-content-type-options-nosniff',
      'x-frame-options': 'x-frame-options-implemented-via-csp',
      'cross-origin-resource-policy': 'corp-implemented-with-same-origin'
    }
    for (const [name, want] of Object.entries(expected)) assert.equal(tests[name]?.result, want, name)
    assert.equal(scan.testsPassed, 8)
  }
)
