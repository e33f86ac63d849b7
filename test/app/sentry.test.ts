import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { gunzipSync } from 'node:zlib'
import { test } from 'node:test'
import { freePort } from '../../src/lib/free-port.js'
import { build, createTestDatabase, defer } from '../helper.js'
import { startServer } from '../server-process.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A stand-in for Sentry's ingest: collects every envelope POSTed to /api/<project>/envelope/. */
async function sentrySink(t: Parameters<typeof defer>[0]) {
  const envelopes: { path: string; body: string }[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks)
      const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw).toString() : raw.toString()
      envelopes.push({ path: req.url ?? '', body })
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  defer(t, () => new Promise((resolve) => server.close(resolve)))
  return { dsn: `http://publickey@127.0.0.1:${port}/1`, envelopes }
}

/** What the tests read of an error event Sentry sent. */
interface ErrorEvent {
  exception: { values: { value: string }[] }
  tags?: Record<string, string>
  release?: string
  environment?: string
}

const errorEvents = (envelopes: { body: string }[]): ErrorEvent[] =>
  envelopes
    .flatMap((e) => e.body.split('\n'))
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Partial<ErrorEvent>)
    .filter((item): item is ErrorEvent => Array.isArray(item.exception?.values))

test('when no DSN is set, then the Sentry SDK is not loaded at all', async (t) => {
  await build(t)
  assert.equal((globalThis as { __SENTRY__?: unknown }).__SENTRY__, undefined)
})

test('when a request fails with a 500, then Sentry receives an event naming the error with request id, route and release; a 404 sends nothing', async (t) => {
  const sink = await sentrySink(t)
  const target = await createTestDatabase(t)
  const server = await startServer(t, target, { SENTRY_DSN: sink.dsn, NODE_ENV: 'test' }, { testRoutes: true })

  const notFound = await fetch(`${server.url}/api/v1/products/999999`)
  assert.equal(notFound.status, 404)
  const unknownRoute = await fetch(`${server.url}/api/v1/nope`)
  assert.equal(unknownRoute.status, 404)
  await sleep(1500)
  assert.deepEqual(errorEvents(sink.envelopes), [], '4xx are never reported')

  const failed = await fetch(`${server.url}/test/boom`, {
    headers: {
      authorization: 'Bearer super-secret-token',
      cookie: 'session=cookie-secret',
      'x-request-id': 'req-boom-1'
    }
  })
  assert.equal(failed.status, 500)
  const problem = await failed.json()
  assert.equal(problem.code, 'INTERNAL')
  assert.doesNotMatch(problem.detail, /forced 500/, 'the real message stays out of the response')

  let events: ErrorEvent[] = []
  for (let i = 0; i < 50 && events.length === 0; i++) {
    await sleep(100)
    events = errorEvents(sink.envelopes)
  }
  assert.equal(events.length, 1, JSON.stringify(sink.envelopes).slice(0, 2000))
  const [event] = events
  assert.ok(event)
  assert.equal(event.exception.values[0]?.value, 'test failure: forced 500')
  assert.equal(event.tags?.request_id, 'req-boom-1')
  assert.equal(event.tags?.route, '/test/boom')
  assert.match(event.release ?? '', /^catalog-api@\d+\.\d+\.\d+/)
  assert.equal(event.environment, 'test')
  assert.ok(
    sink.envelopes.every((e) => e.path.split('?')[0] === '/api/1/envelope/'),
    sink.envelopes.map((e) => e.path).join()
  )
  const everything = sink.envelopes.map((e) => e.body).join('\n')
  assert.doesNotMatch(everything, /super-secret-token/)
  assert.doesNotMatch(everything, /cookie-secret/)
})

test('when the process crashes, then Sentry receives the crash before it exits', async (t) => {
  const sink = await sentrySink(t)
  const target = await createTestDatabase(t)
  const server = await startServer(t, target, { SENTRY_DSN: sink.dsn }, { testRoutes: true })
  await fetch(`${server.url}/test/crash`)
  const exit = await server.exited
  assert.equal(exit.code, 1)
  const events = errorEvents(sink.envelopes)
  assert.ok(events.some((e) => e.exception.values.some((v) => v.value === 'test failure: uncaught exception')))
})
