import type { ConnectionTarget } from '../../src/db/pool.js'
import type { Ceiling } from './ceiling.js'
import { type Cleanup, spawnTracked, waitForHttp200 } from './processes.js'
import { freePort } from '../../src/lib/free-port.js'

// The API's own first-page query answered by a bare node:http server: the compiled repository's listProducts
// through a node-postgres pool of the API's size, its documents joined into the API's body, and nothing else (no
// framework, validation, hooks, metrics, signed cursor). What a page costs the database and its driver on this
// machine: the API can only come near it, and the seed design compared with it says what any design on this query
// and driver could reach.
const FLOOR_SERVER = `
const http = await import('node:http')
const { default: pg } = await import('pg')
const root = process.env.FLOOR_ROOT
const { productFilter, listProducts } = await import(root + '/dist/src/modules/products/repository.js')
await import(root + '/dist/src/db/pool.js') // its type parsers, as the API reads rows
const target = JSON.parse(process.env.FLOOR_TARGET)
const pool = new pg.Pool({ ...target, max: Number(process.env.FLOOR_POOL_MAX) })
const filter = productFilter({}, { status: 'active', currency: 'USD', categoryIds: undefined })
const LIMIT = 20
const server = http.createServer(async (req, res) => {
  try {
    if (req.url === '/health') return res.end('ok')
    const rows = await listProducts(pool, filter, 'newest', undefined, LIMIT)
    const hasMore = rows.length > LIMIT
    const docs = (hasMore ? rows.slice(0, LIMIT) : rows).map((r) => r.doc)
    const body = '{"success":true,"data":[' + docs.join(',') + '],"pagination":{"cursor":' +
      (hasMore ? '"' + rows[LIMIT - 1].id + '"' : 'null') + ',"hasMore":' + hasMore + '}}'
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  } catch (err) {
    res.writeHead(500).end(String(err))
  }
})
server.keepAliveTimeout = 72000
server.listen(Number(process.env.PORT), '127.0.0.1')
`

/** Starts the driver floor in its own process on the bench's database; resolves once it answers. */
export async function startDriverFloor(
  cleanup: Cleanup,
  root: string,
  target: ConnectionTarget,
  poolMax: number
): Promise<Ceiling> {
  const port = await freePort()
  const { child, stop, recentOutput } = spawnTracked(
    cleanup,
    'the driver floor',
    process.execPath,
    ['--input-type=module', '-e', FLOOR_SERVER],
    {
      cwd: root,
      env: {
        ...process.env,
        PORT: String(port),
        FLOOR_ROOT: root,
        FLOOR_TARGET: JSON.stringify(target),
        FLOOR_POOL_MAX: String(poolMax)
      }
    }
  )
  const url = `http://127.0.0.1:${port}`
  try {
    await waitForHttp200(`${url}/health`, child, 10_000, recentOutput)
    return { url, stop }
  } catch (err) {
    await stop()
    throw new Error(`the driver floor did not start: ${(err as Error).message}\n${recentOutput()}`, { cause: err })
  }
}
