import assert from 'node:assert/strict'
import { once } from 'node:events'
import { type AddressInfo, connect, type Socket } from 'node:net'
import { test } from 'node:test'
import { apiKey, build, type TestApp } from '../helper.js'

// POST /imports over a real connection: REQUEST_TIMEOUT_MS does not bound its upload, IMPORT_IDLE_TIMEOUT_MS does.
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const tee = (slug: string) => ({
  name: `Tee ${slug}`,
  slug,
  status: 'active',
  options: [{ name: 'Size', values: ['S'] }],
  variants: [{ sku: `${slug}-S`, optionValues: ['S'], prices: [{ currency: 'USD', amountCents: 1999 }] }]
})
const lines = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `${JSON.stringify(tee(`tee-${from + i}`))}\n`).join('')

/** A chunked import upload on a raw socket; `answer` is the server's whole answer (its body has a Content-Length). */
async function upload(app: TestApp, key: string) {
  await app.listen({ port: 0, host: '127.0.0.1' })
  const socket: Socket = connect((app.server.address() as AddressInfo).port, '127.0.0.1')
  await once(socket, 'connect')
  let text = ''
  let closed = false
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')))
  socket.on('close', () => (closed = true))
  socket.write(
    `POST /api/v1/imports HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\n` +
      'Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n'
  )
  const complete = () => {
    const end = text.indexOf('\r\n\r\n')
    const length = Number(/\r\ncontent-length: (\d+)/i.exec(text.slice(0, end))?.[1] ?? Number.NaN)
    return end !== -1 && Buffer.byteLength(text.slice(end + 4), 'latin1') >= length
  }
  return {
    send: (body: string) => socket.write(`${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n`),
    end: () => socket.write('0\r\n\r\n'),
    answer: async () => {
      while (!complete()) {
        if (closed) throw new Error(`the connection closed after: ${text}`)
        await sleep(20)
      }
      const [head = '', body = ''] = text.split('\r\n\r\n')
      return { status: Number(head.split(' ')[1]), head: head.toLowerCase(), body }
    },
    /** Resolves when the server has closed the connection. */
    closed: async () => {
      while (!closed) await sleep(20)
    },
    socket
  }
}

const state = async (app: TestApp) =>
  (
    await app.db.primary.query<{ n: number; status: string; failed_at_line: number | null; failure: string | null }>(
      'SELECT (SELECT count(*)::int FROM products) AS n, status, failed_at_line, failure FROM imports'
    )
  ).rows[0]

test('when an import’s upload takes longer than REQUEST_TIMEOUT_MS, then it is read to its end and completes', async (t) => {
  const app = await build(t, { REQUEST_TIMEOUT_MS: '300', IMPORT_IDLE_TIMEOUT_MS: '2000' })
  const key = await apiKey(app, 'editor')
  const client = await upload(app, key)
  const started = Date.now()
  for (let part = 0; part < 8; part++) {
    client.send(lines(part * 100, (part + 1) * 100))
    await sleep(150)
  }
  client.end()
  const answer = await client.answer()
  client.socket.destroy()
  assert.ok(Date.now() - started > 1000, 'the upload took more than three request timeouts')
  assert.equal(answer.status, 202, answer.body)
  assert.deepEqual(JSON.parse(answer.body).data.counts, { created: 800, updated: 0, unchanged: 0, failed: 0 })
  assert.deepEqual(await state(app), { n: 800, status: 'completed', failed_at_line: null, failure: null })
})

test('when an import’s upload stops sending for IMPORT_IDLE_TIMEOUT_MS, then 408, the connection is closed and the import is failed after its committed batch', async (t) => {
  const app = await build(t, { REQUEST_TIMEOUT_MS: '0', IMPORT_IDLE_TIMEOUT_MS: '400' })
  const key = await apiKey(app, 'editor')
  const client = await upload(app, key)
  // The first batch (500 products) is committed; the next 100 lines wait for more that never comes.
  client.send(lines(0, 600))
  const answer = await client.answer()
  assert.equal(answer.status, 408, answer.body)
  assert.match(answer.head, /\r\nconnection: close/)
  assert.equal(JSON.parse(answer.body).code, 'REQUEST_TIMEOUT')
  await client.closed()
  const after = await state(app)
  assert.equal(after?.n, 500)
  assert.equal(after?.status, 'failed')
  assert.equal(after?.failed_at_line, 501)
  assert.match(after?.failure ?? '', /No byte of the body arrived for 400 ms/)
})

test('when an import sends its headers and then nothing, then the request deadline still applies until the route reads the body', async (t) => {
  // Before the handler takes the upload over (authentication first), REQUEST_TIMEOUT_MS bounds the request as any.
  const app = await build(t, { REQUEST_TIMEOUT_MS: '300', IMPORT_IDLE_TIMEOUT_MS: '60000' })
  const client = await upload(app, 'not-a-key')
  client.send('{"na')
  const started = Date.now()
  const answer = await client.answer()
  assert.ok([401, 408].includes(answer.status), answer.head)
  await client.closed()
  assert.ok(Date.now() - started < 5000, 'the connection is closed by a deadline, not left open')
  assert.equal((await state(app)) ?? null, null)
})
