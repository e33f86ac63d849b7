// Redis killed then restarted, and Redis frozen (SIGSTOP, a silent network): under load nothing answers 5xx,
// nothing waits a second, and a write made during the outage is what every instance serves afterwards.
import assert from 'node:assert/strict'
import { describeFailures, figures, slowest } from '../load.js'
import { type Chaos, bearer, loadOn, request, sleep, within } from '../support.js'

/** Reads product `id` from every instance directly until each shows `name`, and for `ms` after that. */
async function everyInstanceShows(chaos: Chaos, id: number, name: string, ms: number): Promise<number> {
  const until = performance.now() + ms
  let stale = 0
  while (performance.now() < until) {
    for (const instance of chaos.stack.instances) {
      const res = await request(`${instance.url}/api/v1/products/${id}`, { headers: bearer(chaos.stack) })
      if (res.status !== 200 || res.json().data.name !== name) stale += 1
    }
    await sleep(200)
  }
  return stale
}

export async function redisOutage(chaos: Chaos, fault: 'kill' | 'freeze'): Promise<void> {
  const { stack } = chaos
  const id = 7
  // Cached on every instance (and in Redis) before the fault.
  for (const instance of stack.instances)
    assert.equal((await request(`${instance.url}/api/v1/products/${id}`)).status, 200)

  const load = loadOn(chaos)
  await sleep(chaos.calmMs)
  const faultAt = performance.now()
  if (fault === 'kill') await stack.redis.kill()
  else stack.redis.freeze()
  await sleep(chaos.outageMs / 2)
  const name = `Renamed during the Redis ${fault} ${Date.now()}`
  const write = await request(`${stack.url}/api/v1/products/${id}`, {
    method: 'PATCH',
    headers: bearer(stack),
    body: { name }
  })
  assert.equal(write.status, 200, `the write during the outage: ${write.status} ${write.body}`)
  await sleep(chaos.outageMs / 2)
  if (fault === 'kill') await stack.redis.start()
  else stack.redis.thaw()
  const recoveredAt = performance.now()
  // Right after recovery and for the breaker's probe period plus the docs' 1.5 s, every instance serves the write.
  const staleReads = await everyInstanceShows(chaos, id, name, 8000)
  await sleep(chaos.calmMs)
  const samples = await load.stop()

  const all = figures(samples)
  const during = figures(load.between(faultAt, recoveredAt))
  const ready = await Promise.all(
    stack.instances.map(async (i) => (await request(`${i.url}/health/ready`)).json().checks.redis?.status)
  )
  chaos.report(`Redis ${fault === 'kill' ? 'killed, then restarted' : 'frozen (SIGSTOP)'}`, {
    outageMs: chaos.outageMs,
    load: all,
    duringOutage: during,
    slowestAfterFault: slowest(samples, faultAt),
    recoveredAfterS: ((recoveredAt - faultAt) / 1000).toFixed(1),
    staleReadsAfterRecovery: staleReads,
    redisAfter: ready.join(',')
  })
  assert.equal(all.serverErrors, 0, `responses ≥ 500: ${describeFailures(samples)}`)
  assert.equal(all.failed, 0, `requests without an answer: ${describeFailures(samples)}`)
  assert.ok(all.maxMs < 1000, `max latency ${all.maxMs} ms`)
  assert.ok(during.requests > 0, 'the load ran during the outage')
  assert.equal(staleReads, 0, 'a read after recovery missed the write made during the outage')
  await within('every instance to use Redis again', 10_000, async () => {
    const states = await Promise.all(
      stack.instances.map(async (i) => (await request(`${i.url}/health/ready`)).json().checks.redis?.status)
    )
    return states.every((s) => s === 'up')
  })
}
