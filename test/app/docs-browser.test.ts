// Swagger UI at /docs in a real headless Chromium, under the Content-Security-Policy the docs pages are served with.
// Needs the Debian `chromium` package (/usr/bin/chromium); playwright-core drives it and never downloads a browser.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { chromium } from 'playwright-core'
import { DOCS_CSP } from '../../src/plugins/external/helmet.js'
import { seedCatalog } from '../../src/db/seed.js'
import { connect, createTestDatabase, defer } from '../helper.js'
import { startServer } from '../server-process.js'

const CHROMIUM = '/usr/bin/chromium'
const EXPECTED_DOCS_CSP =
  "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self'; img-src 'self' data: https:"
// As root, with no sandbox; without the background-networking flags Chromium floods a closed network with requests.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync'
]

const required = process.env.REQUIRE_SERVICES === '1'
const missing = existsSync(CHROMIUM)
  ? undefined
  : `Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium)`
// Skipped by name only on a developer machine without Chromium; under REQUIRE_SERVICES=1 a missing browser fails.
const skip = !required && missing ? missing : false

interface CspViolation {
  blockedURI: string
  violatedDirective: string
  effectiveDirective: string
  sourceFile: string
  lineNumber: number
  sample: string
}

test('the /docs pages are served with exactly the documented Content-Security-Policy', async (t) => {
  assert.equal(DOCS_CSP, EXPECTED_DOCS_CSP)
  const database = await createTestDatabase(t)
  const server = await startServer(t, database, { LOG_LEVEL: 'warn' })
  for (const path of ['/docs/', '/docs', '/docs/static/swagger-ui-bundle.js', '/docs/json']) {
    const res = await fetch(`${server.url}${path}`)
    await res.arrayBuffer()
    assert.equal(res.status, 200, path)
    assert.equal(res.headers.get('content-security-policy'), EXPECTED_DOCS_CSP, path)
  }
})

test(
  'in headless Chromium, Swagger UI at /docs lists the operations and runs "Try it out" → 200 with no CSP violation or console error',
  { skip, timeout: 120_000 },
  async (t) => {
    if (missing) assert.fail(`REQUIRE_SERVICES=1 but ${missing}`)
    const database = await createTestDatabase(t)
    const client = await connect(t, database)
    await seedCatalog(client, { products: 300 })
    const server = await startServer(t, database, { LOG_LEVEL: 'warn' })

    const profile = await mkdtemp(join(tmpdir(), 'catalog-docs-chromium-'))
    defer(t, () => rm(profile, { recursive: true, force: true }))
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 60_000
    })
    defer(t, () => context.close())

    const violations: CspViolation[] = []
    const consoleMessages: { type: string; text: string; url: string }[] = []
    const pageErrors: string[] = []
    const failedRequests: string[] = []
    // A binding (CDP), not a script of the page: it works whatever the page's CSP allows.
    await context.exposeFunction('__recordCspViolation', (v: CspViolation) => {
      violations.push(v)
    })
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        const record = (window as unknown as { __recordCspViolation: (v: unknown) => void }).__recordCspViolation
        record({
          blockedURI: e.blockedURI,
          violatedDirective: e.violatedDirective,
          effectiveDirective: e.effectiveDirective,
          sourceFile: e.sourceFile,
          lineNumber: e.lineNumber,
          sample: e.sample
        })
      })
    })

    const page = context.pages()[0] ?? (await context.newPage())
    page.on('console', (msg) => consoleMessages.push({ type: msg.type(), text: msg.text(), url: msg.location().url }))
    page.on('pageerror', (err) => pageErrors.push(String(err)))
    page.on('requestfailed', (req) => failedRequests.push(`${req.method()} ${req.url()}: ${req.failure()?.errorText}`))

    const response = await page.goto(`${server.url}/docs/`, { waitUntil: 'load' })
    assert.ok(response, 'the /docs/ navigation got a response')
    assert.equal(response.status(), 200)
    assert.equal(await response.headerValue('content-security-policy'), EXPECTED_DOCS_CSP)

    // The operations are listed (tags expanded, operations collapsed: Swagger UI's default docExpansion 'list').
    const list = page
      .locator('.opblock.opblock-get')
      .filter({ has: page.locator('.opblock-summary-path[data-path="/api/v1/products"]') })
    await list.first().waitFor({ state: 'visible', timeout: 30_000 })
    assert.equal(await list.count(), 1, 'exactly one GET /api/v1/products operation block')
    const block = list.first()
    assert.ok(await page.locator('.opblock-summary-path[data-path="/api/v1/products/{id}"]').first().isVisible())
    assert.ok((await page.locator('.opblock').count()) >= 10, 'the API operations are listed')

    // Expand it, "Try it out", "Execute", and see the live response.
    await block.locator('.opblock-summary').first().click()
    const tryOut = block.locator('button.try-out__btn')
    await tryOut.waitFor({ state: 'visible' })
    await tryOut.click()
    const execute = block.locator('button.execute')
    await execute.waitFor({ state: 'visible' })
    const [apiResponse] = await Promise.all([
      page.waitForResponse(
        (res) => new URL(res.url()).pathname === '/api/v1/products' && res.request().method() === 'GET'
      ),
      execute.click()
    ])
    assert.equal(apiResponse.status(), 200)
    const liveStatus = block.locator('.live-responses-table .response .response-col_status').first()
    await liveStatus.waitFor({ state: 'visible', timeout: 15_000 })
    assert.equal((await liveStatus.innerText()).trim(), '200')
    const body = block.locator(
      '.live-responses-table .response-col_description .microlight, .live-responses-table .response-col_description pre'
    )
    assert.match(await body.first().innerText(), /"success": true/)

    // Give late reports (violations are dispatched asynchronously) a moment to arrive.
    await page.waitForTimeout(500)
    t.diagnostic(
      `console messages: ${consoleMessages.length}; CSP violations: ${violations.length}; page errors: ${pageErrors.length}`
    )
    for (const m of consoleMessages) t.diagnostic(`console.${m.type}: ${m.text} (${m.url})`)
    for (const f of failedRequests) t.diagnostic(`request failed: ${f}`)
    assert.deepEqual(violations, [], 'no Content-Security-Policy violation')
    assert.deepEqual(
      consoleMessages.filter((m) => m.type === 'error'),
      [],
      'no console error'
    )
    assert.deepEqual(pageErrors, [], 'no uncaught page error')
    assert.deepEqual(failedRequests, [], 'no failed request')
  }
)
