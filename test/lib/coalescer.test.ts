import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Coalescer, concernsRows } from '../../src/writes/coalescer.js'

/** A coalescer whose writes take a few ms and record how they ran. */
function recording(opts: { inFlight: number; maxBatch: number; failBatch?: (items: number[]) => Error | false }) {
  const ran: { kind: 'single' | 'batch'; items: number[] }[] = []
  const observed = { sizes: [] as number[], retriedAlone: 0 }
  let running = 0
  let most = 0
  const track = async <T>(fn: () => T) => {
    running += 1
    most = Math.max(most, running)
    await sleep(5)
    running -= 1
    return fn()
  }
  const coalescer = new Coalescer<number, string>({
    inFlight: opts.inFlight,
    maxBatch: opts.maxBatch,
    observe: { ran: (size) => observed.sizes.push(size), retriedAlone: (calls) => (observed.retriedAlone += calls) },
    single: (n) =>
      track(() => {
        ran.push({ kind: 'single', items: [n] })
        if (n < 0) throw Object.assign(new Error('bad row'), { code: '23505' })
        return `one:${n}`
      }),
    batch: (items) =>
      track(() => {
        ran.push({ kind: 'batch', items })
        const err = opts.failBatch?.(items)
        if (err) throw err
        return items.map((n) => `many:${n}`)
      })
  })
  return { coalescer, ran, observed, most: () => most }
}

test('when calls arrive while the in-flight limit is reached, then they wait and run together, each with its own outcome', async () => {
  const { coalescer, ran, observed, most } = recording({ inFlight: 2, maxBatch: 5 })
  const outcomes = await Promise.all(Array.from({ length: 12 }, (_, n) => coalescer.submit(n)))
  assert.ok(most() <= 2, `at most 2 at once, saw ${most()}`)
  // The first runs at once, in a transaction of its own; the eleven that waited go in batches of at most five, the
  // first of them in the free slot at the end of the turn, the rest as running ones end.
  assert.deepEqual(ran[0], { kind: 'batch', items: [0] })
  assert.deepEqual(ran[1], { kind: 'batch', items: [1, 2, 3, 4, 5] })
  assert.ok(
    ran.every((r) => r.items.length <= 5 && r.kind === 'batch'),
    JSON.stringify(ran)
  )
  assert.deepEqual(
    ran.flatMap((r) => r.items).sort((a, b) => a - b),
    [...Array(12).keys()]
  )
  outcomes.forEach((o, n) => assert.equal(o, `many:${n}`))
  assert.deepEqual(
    observed.sizes,
    ran.map((r) => r.items.length),
    'each transaction is observed with its size'
  )
})

test('when calls arrive one by one while a transaction runs and a slot is free, then they go together at the end of the turn', async () => {
  const { coalescer, ran } = recording({ inFlight: 2, maxBatch: 10 })
  const calls = [coalescer.submit(0)]
  // As requests do: each submitted after some asynchronous steps of its own, all within one turn of the event loop.
  for (const n of [1, 2, 3]) {
    await Promise.resolve()
    calls.push(coalescer.submit(n))
  }
  await Promise.all(calls)
  assert.deepEqual(ran, [
    { kind: 'batch', items: [0] },
    { kind: 'batch', items: [1, 2, 3] }
  ])
})

test('when no transaction is running, then a call runs at once, as a batch of one (the single path is for retries)', async () => {
  const { coalescer, ran, observed } = recording({ inFlight: 2, maxBatch: 10 })
  assert.equal(await coalescer.submit(7), 'many:7')
  assert.equal(await coalescer.submit(8), 'many:8')
  assert.deepEqual(ran, [
    { kind: 'batch', items: [7] },
    { kind: 'batch', items: [8] }
  ])
  assert.deepEqual(observed.sizes, [1, 1])
})

test('when a batch fails on a row, then each of its calls runs alone and gets its own answer', async () => {
  const rowError = Object.assign(new Error('duplicate key'), { code: '23505' })
  const { coalescer, ran, observed } = recording({
    inFlight: 1,
    maxBatch: 10,
    failBatch: (items) => items.includes(-1) && rowError
  })
  const calls = [5, 6, -1, 7].map((n) => coalescer.submit(n).then(String, (err: Error) => `failed:${err.message}`))
  assert.deepEqual(await Promise.all(calls), ['many:5', 'one:6', 'failed:bad row', 'one:7'])
  assert.deepEqual(
    ran.map((r) => r.kind),
    ['batch', 'batch', 'single', 'single', 'single']
  )
  assert.equal(observed.retriedAlone, 3)
})

test('when a batch fails for another reason (the database gone), then every call of it gets that error and none runs again', async () => {
  const gone = Object.assign(new Error('Connection terminated'), { code: undefined })
  const { coalescer, ran } = recording({ inFlight: 1, maxBatch: 10, failBatch: () => gone })
  const calls = [1, 2, 3].map((n) => coalescer.submit(n).then(String, (err: Error) => `failed:${err.message}`))
  assert.deepEqual(await Promise.all(calls), Array(3).fill('failed:Connection terminated'))
  assert.equal(ran.length, 2, 'no call of a failed batch ran again')
  assert.ok(
    ran.every((r) => r.kind === 'batch'),
    JSON.stringify(ran)
  )
})

test('which failures concern a batch’s rows', () => {
  for (const code of ['23505', '23503', '22P02', '40P01', '40001', 'CK401']) assert.ok(concernsRows({ code }), code)
  for (const err of [{ code: '57P01' }, { code: '08006' }, { code: 'ECONNRESET' }, new Error('timeout'), null])
    assert.ok(!concernsRows(err), JSON.stringify(err))
})

test('when a call waits longer than maxWait for its turn, then it gets the wait error at once and never runs', async () => {
  const ran: number[] = []
  const coalescer = new Coalescer<number, string>({
    inFlight: 1,
    maxBatch: 1,
    maxWait: { ms: 50, error: () => new Error('waited too long') },
    single: async (n) => {
      ran.push(n)
      await sleep(n === 1 ? 300 : 1)
      return `one:${n}`
    },
    batch: async (items) => {
      ran.push(...items)
      return items.map((n) => `many:${n}`)
    }
  })
  const started = performance.now()
  const second = coalescer.submit(2).then(String, (err: Error) => `${err.message} after ${performance.now() - started}`)
  const first = coalescer.submit(1)
  const third = coalescer.submit(3).then(String, (err: Error) => err.message)
  // 2 runs at once; 1 starts alone when 2 ends and holds the only slot for 300 ms; 3 waits behind it.
  assert.equal(await second, 'one:2')
  assert.equal(await third, 'waited too long')
  assert.ok(performance.now() - started < 250, 'answered before the running call ended')
  assert.equal(await first, 'one:1')
  await sleep(20)
  assert.deepEqual(ran, [2, 1], 'the expired call never ran')
})

/** A coalescer whose transactions each run until the test releases them, in the order they started. */
function held(gatherMs: number) {
  const ran: { items: number[]; at: number }[] = []
  const releases: (() => void)[] = []
  const coalescer = new Coalescer<number, string>({
    inFlight: 2,
    maxBatch: 64,
    gatherMs,
    single: async (n) => `one:${n}`,
    batch: async (items) => {
      ran.push({ items, at: performance.now() })
      await new Promise<void>((resolve) => releases.push(resolve))
      return items.map((n) => `many:${n}`)
    }
  })
  const turns = async (n: number) => {
    for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
  }
  /**
   * One call runs alone, four more go together beside it, and those four are answered while the first still runs:
   * their clients come back one at a time, a few turns of the event loop apart, as requests do.
   */
  const comeBack = async (calls: number[]) => {
    const answered: Promise<string>[] = [coalescer.submit(0)]
    answered.push(...[1, 2, 3, 4].map((n) => coalescer.submit(n)))
    await turns(2)
    releases[1]?.()
    await Promise.all(answered.slice(1))
    for (const n of calls) {
      answered.push(coalescer.submit(n))
      await turns(3)
    }
    return answered
  }
  /** Releases every transaction, those that start meanwhile too, until every call is answered. */
  const finish = async (answered: Promise<string>[]) => {
    let done = false
    const all = Promise.all(answered).finally(() => (done = true))
    while (!done) {
      releases.forEach((release) => release())
      await turns(1)
    }
    return all
  }
  return { coalescer, ran, comeBack, finish }
}

test('when callers come back one by one while a transaction runs, then a free slot waits for its share of them (gatherMs) and they go together', async () => {
  const gathering = held(500)
  const gathered = await gathering.comeBack([5, 6, 7])
  // In running transactions 1 call, answered and expected back 4: a share of ceil(5 / 2) = 3 per slot.
  assert.deepEqual(
    gathering.ran.map((r) => r.items),
    [[0], [1, 2, 3, 4], [5, 6, 7]]
  )
  // Without gatherMs the first caller back takes the free slot alone.
  const taking = held(0)
  const taken = await taking.comeBack([5, 6, 7])
  assert.deepEqual(taking.ran.map((r) => r.items).slice(0, 3), [[0], [1, 2, 3, 4], [5]])
  const each = [0, 1, 2, 3, 4, 5, 6, 7].map((n) => `many:${n}`)
  assert.deepEqual(await gathering.finish(gathered), each)
  assert.deepEqual(await taking.finish(taken), each)
})

test('when fewer callers come back than the slot’s share, then it starts with those after gatherMs, and with nothing running or expected a call starts at once', async () => {
  const { coalescer, ran, comeBack, finish } = held(40)
  const submitted = performance.now()
  const answered = await comeBack([5])
  while (ran.length < 3 && performance.now() - submitted < 2000) await sleep(1)
  const waited = (ran[2]?.at ?? 0) - submitted
  assert.deepEqual(ran[2]?.items, [5])
  assert.ok(waited >= 35, `the slot waited for more callers (${waited.toFixed(1)} ms)`)
  assert.deepEqual(await finish(answered), ['many:0', 'many:1', 'many:2', 'many:3', 'many:4', 'many:5'])
  await sleep(60)
  // Nothing runs, and the calls answered more than gatherMs ago are not expected back: the next call starts at once.
  const next = coalescer.submit(9)
  assert.deepEqual(ran.at(-1)?.items, [9], 'started in the turn it was submitted')
  assert.deepEqual(await finish([next]), ['many:9'])
})
