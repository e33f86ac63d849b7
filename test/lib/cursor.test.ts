import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { test } from 'node:test'
import { createCursorCodec } from '../../src/lib/cursor.js'

const SECRET = 'a-cursor-secret-of-forty-three-characters-x'

/** A cursor as every release so far wrote it: base64url(json) '.' base64url(first 16 bytes of HMAC-SHA256(scope \n payload)). */
function referenceCursor(scope: string, sort: string, key: readonly (string | number)[]): string {
  const payload = Buffer.from(JSON.stringify({ s: sort, k: key })).toString('base64url')
  const mac = createHmac('sha256', SECRET).update(`${scope}\n${payload}`).digest().subarray(0, 16)
  return `${payload}.${mac.toString('base64url')}`
}

test('when a cursor is encoded, then it is the cursor earlier releases wrote for the same position, and theirs decode (instances of both answer during a rolling deploy)', () => {
  const codec = createCursorCodec(SECRET, 'products')
  for (const key of [['2025-01-01T02:46:17.000Z', 9977], [0, 'é'], []] as const) {
    assert.equal(codec.encode('newest', key), referenceCursor('products', 'newest', key))
    assert.deepEqual(codec.decode('newest', referenceCursor('products', 'newest', key)), key)
  }
})

test('when a cursor comes from another scope, another secret or was altered, then it is refused', () => {
  const codec = createCursorCodec(SECRET, 'products')
  const other = createCursorCodec(SECRET, 'categories').encode('newest', [1])
  assert.throws(() => codec.decode('newest', other), /was not issued by this API or was altered/)
  const otherSecret = createCursorCodec(`${SECRET}y`, 'products').encode('newest', [1])
  assert.throws(() => codec.decode('newest', otherSecret), /was not issued by this API or was altered/)
  const good = codec.encode('newest', [1])
  const altered = `${good.slice(0, -2)}${good.endsWith('AA') ? 'AB' : 'AA'}`
  assert.throws(() => codec.decode('newest', altered), /was not issued by this API or was altered/)
  assert.throws(() => codec.decode('price', good), /belongs to sort "newest"/)
})
