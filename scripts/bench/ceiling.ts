import type { ChildProcess } from 'node:child_process'
import { type Cleanup, spawnTracked, withTimeout } from './processes.js'

// A bare node:http server answering every request with one pre-built response: what a single Node.js process
// can serve with no framework, validation or database, on the same machine. Two kinds:
// - "size": a JSON body of BODY_BYTES bytes with only Content-Type and Content-Length (the classic ceiling);
// - "exact": the API's own answer replayed (status, every header, the body bytes), so both sides put the same
//   bytes on the wire and the client parses the same response.
const CEILING_SERVER = `
const http = require('node:http')
const status = Number(process.env.STATUS)
let body, headers
if (process.env.RESPONSE_JSON) {
  const response = JSON.parse(process.env.RESPONSE_JSON)
  body = Buffer.from(response.body, 'base64')
  headers = Object.fromEntries(response.headers)
  headers['content-length'] = String(body.length)
} else {
  const size = Number(process.env.BODY_BYTES)
  body = Buffer.from(size >= 10 ? '{"pad":"' + 'x'.repeat(size - 10) + '"}' : ' '.repeat(size))
  headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(body.length) }
}
const server = http.createServer((req, res) => {
  res.writeHead(status, headers)
  res.end(body)
})
server.keepAliveTimeout = 72000
server.listen(0, '127.0.0.1', () => process.stdout.write('listening ' + server.address().port + '\\n'))
`

/** A response as the probe saw it: what the exact ceiling replays. */
export interface RecordedResponse {
  status: number
  /** Name and value of every header but the ones node:http writes itself (date, connection, keep-alive, length). */
  headers: [string, string][]
  body: Buffer
}

export interface Ceiling {
  url: string
  stop: () => Promise<void>
}

/** Resolves with the port the child prints once it listens. */
function listeningPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = ''
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8')
      const match = /listening (\d+)\n/.exec(output)
      if (match) {
        child.stdout?.off('data', onData)
        resolve(Number(match[1]))
      }
    }
    child.stdout?.on('data', onData)
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`exited with code ${code} before listening`)))
  })
}

/**
 * Starts a ceiling server in its own process, so it does not share the load generator's CPU time: a body of
 * `bodyBytes` with two headers, or, given a recorded response, that exact response.
 */
export async function startCeiling(
  cleanup: Cleanup,
  bodyBytes: number,
  status: number,
  exact?: RecordedResponse
): Promise<Ceiling> {
  const response = exact
    ? { RESPONSE_JSON: JSON.stringify({ headers: exact.headers, body: exact.body.toString('base64') }) }
    : {}
  const { child, stop, recentOutput } = spawnTracked(
    cleanup,
    'the ceiling server',
    process.execPath,
    ['-e', CEILING_SERVER],
    {
      env: { ...process.env, BODY_BYTES: String(bodyBytes), STATUS: String(status), ...response }
    }
  )
  try {
    const port = await withTimeout(listeningPort(child), 10_000, 'the ceiling server')
    return { url: `http://127.0.0.1:${port}`, stop }
  } catch (err) {
    await stop()
    throw new Error(`the ceiling server did not start: ${(err as Error).message}\n${recentOutput()}`, { cause: err })
  }
}
