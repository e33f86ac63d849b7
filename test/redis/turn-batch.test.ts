// Redis operations of one event-loop turn share one script call, against the real Redis.
import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import { MAX_BATCH, RedisTurnBatch } from '../../src/redis/turn-batch.js'
import { defer } from '../helper.js'
import { redisPrefix, redisTest } from '../redis-helper.js'

/** A real client whose script calls are counted (each still goes to Redis). */
function countingClient(t: Parameters<typeof defer>[0], url: string) {
  const client = new Redis(url)
  defer(t, () => client.quit())
  const calls = { scripts: 0 }
  const evalsha = client.evalsha.bind(client) as (...args: unknown[]) => Promise<unknown>
  ;(client as unknown as { evalsha: (...args: unknown[]) => Promise<unknown> }).evalsha = (...args) => {
    calls.scripts++
    return evalsha(...args)
  }
  return { client, calls }
}

const policy = { windowMs: 60_000, max: 5 }

redisTest(
  'when many version lookups and GCRA steps start in one turn, then one script answers each with its own result',
  async (t, url) => {
    const { client, calls } = countingClient(t, url)
    const prefix = redisPrefix(t, url)
    const batch = new RedisTurnBatch(client)
    const v = (name: string) => `{${prefix}t}:${name}`
    const alice = { key: `${prefix}rl:alice`, ...policy }
    const bob = { key: `${prefix}rl:bob`, ...policy }
    await batch.versions([v('a'), v('b'), v('c')])
    // Keys created together share their first value: make them differ, so the order of the answers shows.
    await client.incr(v('b'))
    await client.incrby(v('c'), 2)
    const [a, b, c] = (await batch.versions([v('a'), v('b'), v('c')])).split(',')
    assert.equal(new Set([a, b, c]).size, 3)
    calls.scripts = 0

    const [steps, bobStep, mixed, fresh, freshAlone] = await Promise.all([
      Promise.all(Array.from({ length: 8 }, () => batch.gcra(alice))),
      batch.gcra(bob),
      batch.versions([v('b'), v('c'), v('a')]),
      batch.versions([v('new'), v('a')]),
      batch.versions([v('new')])
    ])
    assert.equal(calls.scripts, 1, 'one script call for the whole turn')
    // One quota of 5, decided in order: 4, 3, 2, 1, 0 left, then three refusals.
    assert.deepEqual(
      steps.map((r) => r.slice(0, 2)),
      [
        [1, 4],
        [1, 3],
        [1, 2],
        [1, 1],
        [1, 0],
        [0, 0],
        [0, 0],
        [0, 0]
      ]
    )
    assert.deepEqual(bobStep.slice(0, 2), [1, 4], "another client's quota is its own")
    assert.equal(mixed, `${b},${c},${a}`, 'values come in the order of the keys asked for')
    assert.equal(fresh, `${freshAlone},${a}`, 'a key missing from Redis gets one value for the whole call')
    assert.equal(await batch.versions([v('new')]), freshAlone, 'and keeps it')

    // The steps were stored: the next turn sees the quota used up and Bob's one request.
    const next = await Promise.all([batch.gcra(alice), batch.gcra(bob)])
    assert.equal(next[0][0], 0)
    assert.ok(next[0][2] >= 11 && next[0][2] <= 12, `one request is free again in 60/5 s, got ${next[0][2]}`)
    assert.deepEqual(next[1].slice(0, 2), [1, 3])
    assert.equal(calls.scripts, 3)
  }
)

redisTest('when Redis lost its scripts, then the next call loads it again and answers', async (t, url) => {
  const { client } = countingClient(t, url)
  const prefix = redisPrefix(t, url)
  const batch = new RedisTurnBatch(client)
  const first = await batch.versions([`{${prefix}t}:x`])
  await client.script('FLUSH')
  const [again, step] = await Promise.all([
    batch.versions([`{${prefix}t}:x`]),
    batch.gcra({ key: `${prefix}rl:x`, windowMs: 1000, max: 1 })
  ])
  assert.equal(again, first)
  assert.deepEqual(step.slice(0, 2), [1, 0])
})

redisTest(
  `when more than ${MAX_BATCH} operations start in one turn, then they are split over script calls and all answered`,
  async (t, url) => {
    const { client, calls } = countingClient(t, url)
    const prefix = redisPrefix(t, url)
    const batch = new RedisTurnBatch(client)
    const keys = Array.from({ length: 600 }, (_, i) => `{${prefix}t}:p:${i}`)
    const expected = await batch.versions(keys)
    calls.scripts = 0
    const replies = await Promise.all(keys.map((key) => batch.versions([key])))
    assert.equal(calls.scripts, Math.ceil(600 / MAX_BATCH))
    assert.deepEqual(replies, expected.split(','))
  }
)

redisTest(
  'when the script call fails, then every operation of its call fails, and the next call works',
  async (t, url) => {
    const { client } = countingClient(t, url)
    const prefix = redisPrefix(t, url)
    const batch = new RedisTurnBatch(client)
    // A GCRA key of the wrong type makes Redis refuse the whole script.
    const broken = { key: `{${prefix}t}:broken`, windowMs: 1000, max: 1 }
    await client.hset(broken.key, 'f', 'v')
    const results = await Promise.allSettled([
      batch.versions([`{${prefix}t}:a`]),
      batch.gcra(broken),
      batch.versions([`{${prefix}t}:b`])
    ])
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected', 'rejected']
    )
    assert.match(String((results[1] as PromiseRejectedResult).reason), /WRONGTYPE/)
    const after = await Promise.all([batch.versions([`{${prefix}t}:a`]), batch.versions([`{${prefix}t}:b`])])
    assert.match(after[0], /^\d+$/)
    assert.match(after[1], /^\d+$/)
  }
)
