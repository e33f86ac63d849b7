import assert from 'node:assert/strict'
import { test } from 'node:test'
import { requestId } from '../../src/lib/request-id.js'

// RFC 9562: version 7 in the 13th hex digit, the variant (10xx) in the 17th.
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** The Unix time in milliseconds a version 7 UUID carries in its first 48 bits. */
const timeOf = (id: string) => parseInt(id.slice(0, 8) + id.slice(9, 13), 16)

test('when a request id is made, then it is a UUID version 7 whose first 48 bits are the time in milliseconds', () => {
  for (const at of [0, 1, 1_700_000_000_000, Date.now(), 2 ** 48 - 1]) {
    const id = requestId(at)
    assert.match(id, UUID_V7, id)
    assert.equal(timeOf(id), at)
  }
  const before = Date.now()
  const id = requestId()
  assert.ok(timeOf(id) >= before && timeOf(id) <= Date.now(), id)
})

test('when ids are made in later milliseconds, then they sort after the earlier ones; none repeats', () => {
  const ids: string[] = []
  const start = 1_800_000_000_000
  for (let ms = 0; ms < 2000; ms++) for (let i = 0; i < 50; i++) ids.push(requestId(start + ms))
  for (let i = 50; i < ids.length; i += 50) {
    const previous = ids.slice(i - 50, i)
    const next = ids[i] as string
    assert.ok(
      previous.every((p) => p < next),
      `${next} sorts after every id of the millisecond before`
    )
  }
  assert.equal(new Set(ids).size, ids.length)
  for (const id of ids) assert.match(id, UUID_V7)
})
