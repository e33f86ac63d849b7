// Version lookups of one event-loop turn share one script call, against the real Redis.
import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import { MAX_BATCH, VersionBatch } from '../../src/cache/version-batch.js'
import { RedisStore } from '../../src/cache/store.js'
import { RedisLimiter } from '../../src/rate-limit/gcra.js'
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

redisTest(
  'when many lookups start in one turn, then one script answers each with its own versions and decisions',
  async (t, url) => {
    const { client, calls } = countingClient(t, url)
    const prefix = redisPrefix(t, url)
    const store = new RedisStore(client, prefix)
    const limiter = new RedisLimiter(client, prefix)
    const alice = limiter.call('default:ip:192.0.2.1', { name: 'default', max: 5, windowMs: 60_000 })
    const bob = limiter.call('default:ip:192.0.2.2', { name: 'default', max: 5, windowMs: 60_000 })
    await store.versions(['a', 'b', 'c'])
    // Tags created together share their first version: make them differ, so the order of versions shows.
    await store.bump(['b', 'c'])
    await store.bump(['c'])
    const [a, b, c] = (await store.versions(['a', 'b', 'c'])).split(',')
    assert.equal(new Set([a, b, c]).size, 3)
    calls.scripts = 0

    const lookups = [
      ...Array.from({ length: 8 }, () => store.versionsWithLimit!(['a', 'b'], alice)),
      store.versionsWithLimit!(['c'], bob),
      store.versions(['b', 'c', 'a']),
      store.versions(['new', 'a']),
      store.versions(['new'])
    ]
    const replies = await Promise.all(lookups)
    assert.equal(calls.scripts, 1, 'one script call for the whole turn')

    const aliceReplies = replies.slice(0, 8) as { versions: string; limit: [number, number, number] }[]
    for (const reply of aliceReplies) assert.equal(reply.versions, `${a},${b}`)
    // One quota of 5, decided in order: 4, 3, 2, 1, 0 left, then three refusals.
    assert.deepEqual(
      aliceReplies.map((r) => r.limit.slice(0, 2)),
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
    assert.deepEqual((replies[8] as { limit: number[] }).limit.slice(0, 2), [1, 4], "another client's quota is its own")
    assert.equal((replies[8] as { versions: string }).versions, c)
    assert.equal(replies[9], `${b},${c},${a}`, 'versions come in the order of the tags asked for')
    const fresh = replies[11] as string
    assert.equal(replies[10], `${fresh},${a}`, 'a tag missing from Redis gets one version for the whole batch')
    assert.equal(await store.versions(['new']), fresh, 'and keeps it')

    // The decisions were stored: the next turn sees the quota used up and Bob's one request.
    const next = await Promise.all([store.versionsWithLimit!(['a'], alice), store.versionsWithLimit!(['a'], bob)])
    assert.equal(next[0].limit[0], 0)
    assert.deepEqual(next[1].limit.slice(0, 2), [1, 3])
    assert.equal(calls.scripts, 3)
  }
)

redisTest('when a tag is bumped between two turns, then the second batch sees the new version', async (t, url) => {
  const { client } = countingClient(t, url)
  const store = new RedisStore(client, redisPrefix(t, url))
  const first = await Promise.all([store.versions(['x', 'y']), store.versions(['y'])])
  await store.bump(['y'])
  const second = await Promise.all([store.versions(['x', 'y']), store.versions(['y'])])
  assert.equal(second[0].split(',')[0], first[0].split(',')[0])
  assert.notEqual(second[1], first[1])
  assert.equal(second[0].split(',')[1], second[1])
})

redisTest(
  `when more than ${MAX_BATCH} lookups start in one turn, then they are split over script calls and all answered`,
  async (t, url) => {
    const { client, calls } = countingClient(t, url)
    const prefix = redisPrefix(t, url)
    const store = new RedisStore(client, prefix)
    const expected = await store.versions(Array.from({ length: 600 }, (_, i) => `p:${i}`))
    calls.scripts = 0
    const replies = await Promise.all(Array.from({ length: 600 }, (_, i) => store.versions([`p:${i}`])))
    assert.equal(calls.scripts, Math.ceil(600 / MAX_BATCH))
    assert.deepEqual(replies, expected.split(','))
  }
)

redisTest(
  'when the script call fails, then every lookup of its batch fails, and the next batch works',
  async (t, url) => {
    const { client } = countingClient(t, url)
    const prefix = redisPrefix(t, url)
    const batch = new VersionBatch(client, (tag) => `{${prefix}t}:${tag}`)
    // A limiter key of the wrong type makes Redis refuse the whole script.
    const broken = { key: `{${prefix}t}:broken`, windowMs: 1000, max: 1 }
    await client.hset(broken.key, 'f', 'v')
    const results = await Promise.allSettled([
      batch.lookup(['a'], null),
      batch.lookup(['a'], broken),
      batch.lookup(['b'], null)
    ])
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected', 'rejected']
    )
    assert.match(String((results[1] as PromiseRejectedResult).reason), /WRONGTYPE/)
    const after = await Promise.all([batch.lookup(['a'], null), batch.lookup(['b'], null)])
    assert.equal(after.length, 2)
    assert.match(after[0].versions, /^\d+$/)
  }
)
