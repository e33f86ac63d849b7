// The replica stopped then started, and the primary stopped for a while, under load through nginx.
import assert from 'node:assert/strict'
import { describeFailures, figures } from '../load.js'
import { type Chaos, failures, loadOn, metric, sleep, within } from '../support.js'

const sum = (m: Map<string, number>, labels: string) =>
  [...m].filter(([k]) => k.includes(labels)).reduce((a, [, v]) => a + v, 0)

async function replicaReads(chaos: Chaos): Promise<number[]> {
  return Promise.all(
    chaos.stack.instances.map(async (i) => sum(await metric(i.url, 'db_read_routing_total'), 'decision="replica"'))
  )
}

export async function replicaRestart(chaos: Chaos): Promise<void> {
  const { stack } = chaos
  const load = loadOn(chaos)
  await sleep(chaos.calmMs)
  await stack.postgres.replica.stop()
  const stoppedAt = performance.now()
  await sleep(chaos.outageMs)
  const upAgain = await metric(stack.instances[0]!.url, 'db_replica_up')
  await stack.postgres.replica.start()
  const startedAt = performance.now()
  const before = await replicaReads(chaos)
  // Every instance marks the replica up and routes reads to it again.
  const backMs = await within('the replica to take reads again', 10_000, async () => {
    const up = await Promise.all(stack.instances.map(async (i) => sum(await metric(i.url, 'db_replica_up'), '')))
    const now = await replicaReads(chaos)
    return up.every((v) => v === 1) && now.every((v, i) => v > (before[i] ?? 0))
  })
  await sleep(chaos.calmMs)
  const samples = await load.stop()
  const all = figures(samples)
  chaos.report('Replica stopped, then started', {
    outageMs: chaos.outageMs,
    load: all,
    duringOutage: figures(load.between(stoppedAt, startedAt)),
    replicaUpWhileStopped: sum(upAgain, ''),
    replicaTakesReadsAfterMs: backMs
  })
  assert.equal(sum(upAgain, ''), 0, 'db_replica_up showed the stopped replica')
  assert.equal(all.failed, 0, `failed requests: ${describeFailures(samples)}`)
  assert.ok(
    samples.every((s) => s.status === 200 || s.status === 201),
    'every request answered 200/201'
  )
}

export async function primaryOutage(chaos: Chaos): Promise<void> {
  const { stack } = chaos
  const pids = stack.instances.map((i) => i.process()?.pid)
  const load = loadOn(chaos)
  await sleep(chaos.calmMs)
  await stack.postgres.primary.stop()
  const stoppedAt = performance.now()
  await sleep(chaos.outageMs)
  const restartAt = performance.now()
  await stack.postgres.primary.start()
  // Writes work again through the same, never restarted, instances.
  const recoveryMs = await within('writes to succeed again', 30_000, () => {
    const recent = load.samples.filter((s) => s.op === 'create' && s.at > performance.now() - 500)
    return recent.length > 0 && recent.every((s) => s.status === 201)
  })
  const recoveredAt = performance.now()
  await sleep(chaos.calmMs)
  const samples = await load.stop()

  const outage = load.between(stoppedAt, restartAt)
  const reads = outage.filter((s) => s.op !== 'create')
  const writes = outage.filter((s) => s.op === 'create')
  const after = load.between(recoveredAt)
  chaos.report('Primary stopped', {
    outageMs: chaos.outageMs,
    load: figures(samples),
    readsDuringOutage: figures(reads),
    writesDuringOutage: figures(writes),
    writesRecoveredAfterRestartMs: recoveryMs,
    afterRecovery: figures(after)
  })
  assert.ok(reads.length > 0 && writes.length > 0, 'the load ran during the outage')
  const badReads = reads.filter((s) => s.status !== 200)
  assert.equal(badReads.length, 0, `reads that did not answer 200: ${describeFailures(badReads)}`)
  // In flight when the primary went away, a write may still commit; every other write is refused cleanly.
  const badWrites = writes.filter(
    (s) =>
      s.status !== 201 &&
      !(
        s.status === 503 &&
        s.problem?.contentType?.startsWith('application/problem+json') &&
        Number(s.problem.retryAfter) > 0
      )
  )
  assert.equal(
    badWrites.length,
    0,
    `writes that were neither 201 nor 503 problem+json with Retry-After: ${JSON.stringify(badWrites.slice(0, 3))}`
  )
  // Between the restart and recovery only the same clean 503s; after it, nothing fails.
  const transition = load.between(restartAt, recoveredAt)
  const badTransition = transition.filter(
    (s) => s.status !== 200 && s.status !== 201 && !(s.status === 503 && s.problem?.retryAfter)
  )
  assert.equal(badTransition.length, 0, `during recovery: ${describeFailures(badTransition)}`)
  assert.equal(failures(after).length, 0, `after recovery: ${describeFailures(after)}`)
  assert.deepEqual(
    stack.instances.map((i) => i.process()?.pid),
    pids,
    'the same instance processes throughout: none was restarted'
  )
}
