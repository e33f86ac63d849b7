import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BoundedMap } from '../../src/lib/bounded-map.js'

test('when more keys than the bound are set, then the one written longest ago is dropped', () => {
  const map = new BoundedMap<string, number>(2)
  map.set('a', 1).set('b', 2).set('c', 3)
  assert.equal(map.size, 2)
  assert.equal(map.has('a'), false)
  assert.deepEqual([map.get('b'), map.get('c')], [2, 3])
})

test('when a key is set again, then it becomes the newest and outlives older ones', () => {
  const map = new BoundedMap<string, number>(2)
  map.set('a', 1).set('b', 2).set('a', 10).set('c', 3)
  assert.equal(map.get('a'), 10)
  assert.equal(map.has('b'), false)
})

test('when a key is only read, then its place in the eviction order stays', () => {
  const map = new BoundedMap<string, number>(2)
  map.set('a', 1).set('b', 2)
  assert.equal(map.get('a'), 1)
  map.set('c', 3)
  assert.equal(map.has('a'), false)
})

test('when the bound is 0, then nothing is kept; when it is negative, then construction fails', () => {
  const map = new BoundedMap<string, number>(0)
  map.set('a', 1)
  assert.equal(map.size, 0)
  assert.throws(() => new BoundedMap(-1), RangeError)
})
