import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { measureRounds } from '../../scripts/bench/load.js'

/** A loopback server that counts the requests it answers. */
async function counting(t: { after: (fn: () => Promise<void>) => void }) {
  const state = { requests: 0 }
  const server = http.createServer((_req, res) => {
    state.requests += 1
    res.end('ok')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, state }
}

test('when a scenario has a step before each API run, then the bench runs it before the warm-up and before every round, never during a run', async (t) => {
  const api = await counting(t)
  const other = await counting(t)
  // What the API had answered when the step ran, and whether the other server's run had ended by then.
  const seen: { api: number; other: number }[] = []
  const result = await measureRounds(
    api.url,
    [other.url],
    { method: 'GET', path: '/' },
    { connections: 1, duration: 2, rounds: 2 },
    'steps',
    async () => {
      seen.push({ api: api.state.requests, other: other.state.requests })
    }
  )
  assert.equal(seen.length, 3, 'warm-up and two rounds')
  assert.deepEqual(seen[0], { api: 0, other: 0 }, 'the first step comes before any request')
  for (let i = 1; i < seen.length; i++) {
    const [before, now] = [seen[i - 1], seen[i]] as [{ api: number; other: number }, { api: number; other: number }]
    assert.ok(now.api > before.api, 'an API run came between two steps')
    assert.ok(now.other > before.other, 'so did the other server’s run, before the step')
  }
  assert.ok(result.api.requests > 0)
})
