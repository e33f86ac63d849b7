import assert from 'node:assert/strict'
import http from 'node:http'
import { test } from 'node:test'
import { seedCatalog } from '../../src/db/seed.js'
import { connect, createTestDatabase } from '../helper.js'
import { startServer } from '../server-process.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const RUNS = Number(process.env.SHUTDOWN_TEST_RUNS ?? 5)
const CLIENTS = 24

function get(agent: http.Agent, port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
      res.on('error', reject)
    })
    req.on('error', reject)
  })
}

interface Tally {
  ok: number
  unavailable: number
  otherStatus: number[]
  refused: number
  reset: number
  otherErrors: string[]
}

/** `CLIENTS` keep-alive clients, each sending its next request as soon as the last is answered. */
function load(port: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS })
  const tally: Tally = { ok: 0, unavailable: 0, otherStatus: [], refused: 0, reset: 0, otherErrors: [] }
  let stopped = false
  const paths = ['/api/v1/products?limit=5', '/api/v1/products/7', '/api/v1/categories']
  const client = async (n: number) => {
    for (let i = n; !stopped; i++) {
      try {
        const status = await get(agent, port, paths[i % paths.length] as string)
        if (status >= 200 && status < 300) tally.ok++
        else if (status === 503) tally.unavailable++
        else tally.otherStatus.push(status)
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        // Refused: the listener is closed, the request never reached the process. This client is done.
        if (code === 'ECONNREFUSED') {
          tally.refused++
          return
        }
        if (code === 'ECONNRESET') tally.reset++
        else tally.otherErrors.push(code ?? String(err))
      }
    }
  }
  const clients = Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)))
  return {
    tally,
    async stop() {
      stopped = true
      await clients
      agent.destroy()
    }
  }
}

test(`when SIGTERM arrives while ${CLIENTS} keep-alive clients send without pause, then no request is reset, every answer is 2xx or 503 and the exit code is 0 (${RUNS} runs)`, async (t) => {
  const target = await createTestDatabase(t)
  await seedCatalog(await connect(t, target), { products: 50 })
  for (let run = 1; run <= RUNS; run++) {
    // The grace is a bound, not a wait: it ends as soon as every connection has had its last answer. It is long
    // here because on a loaded machine a client can stall over a second between two requests.
    const server = await startServer(t, target, {
      SHUTDOWN_DRAIN_MS: '1500',
      SHUTDOWN_GRACE_MS: '5000',
      LOG_LEVEL: 'warn'
    })
    const traffic = load(server.port)
    await sleep(400)
    server.child.kill('SIGTERM')
    const exit = await server.exited
    await traffic.stop()
    const { tally } = traffic
    t.diagnostic(
      `run ${run}: ${tally.ok} ok, ${tally.unavailable} × 503, ${tally.otherStatus.length} other statuses, ` +
        `${tally.reset} reset, ${tally.refused} refused after the listener closed, exit ${exit.code}`
    )
    assert.equal(exit.code, 0, server.output())
    assert.ok(tally.ok > CLIENTS, `run ${run}: the load ran (${tally.ok} ok)`)
    assert.equal(tally.reset, 0, `run ${run}: no request that reached the process is reset`)
    assert.deepEqual(tally.otherStatus, [], `run ${run}: no error answers`)
    assert.deepEqual(tally.otherErrors, [], `run ${run}`)
    assert.equal(tally.refused, CLIENTS, `run ${run}: every client ended on a closed listener, not a reset`)
  }
})
