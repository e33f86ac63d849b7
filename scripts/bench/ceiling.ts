import type { ChildProcess } from 'node:child_process'
import { type Cleanup, spawnTracked, withTimeout } from './processes.js'

// A bare node:http server answering every request with one pre-built JSON body of BODY_BYTES bytes: what a
// single Node.js process can serve with no framework, validation or database, on the same machine.
const CEILING_SERVER = `
const http = require('node:http')
const size = Number(process.env.BODY_BYTES)
const status = Number(process.env.STATUS)
const body = Buffer.from(size >= 10 ? '{"pad":"' + 'x'.repeat(size - 10) + '"}' : ' '.repeat(size))
const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(body.length) }
const server = http.createServer((req, res) => {
  res.writeHead(status, headers)
  res.end(body)
})
server.keepAliveTimeout = 72000
server.listen(0, '127.0.0.1', () => process.stdout.write('listening ' + server.address().port + '\\n'))
`

export interface Ceiling {
  url: string
  stop(): Promise<void>
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

/** Starts the ceiling server in its own process, so it does not share the load generator's CPU time. */
export async function startCeiling(cleanup: Cleanup, bodyBytes: number, status: number): Promise<Ceiling> {
  const { child, stop, recentOutput } = spawnTracked(cleanup, 'the ceiling server', process.execPath, ['-e', CEILING_SERVER], {
    env: { ...process.env, BODY_BYTES: String(bodyBytes), STATUS: String(status) }
  })
  try {
    const port = await withTimeout(listeningPort(child), 10_000, 'the ceiling server')
    return { url: `http://127.0.0.1:${port}`, stop }
  } catch (err) {
    await stop()
    throw new Error(`the ceiling server did not start: ${(err as Error).message}\n${recentOutput()}`)
  }
}
