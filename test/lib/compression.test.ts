import assert from 'node:assert/strict'
import { test } from 'node:test'
import { COMPRESSION_THRESHOLD_BYTES, belowCompressionThreshold } from '../../src/lib/compression.js'

const T = COMPRESSION_THRESHOLD_BYTES

test('when a body is one byte short of the threshold, then it is below it; at the threshold, then it is not', () => {
  assert.equal(belowCompressionThreshold('a'.repeat(T - 1)), true)
  assert.equal(belowCompressionThreshold('a'.repeat(T)), false)
  assert.equal(belowCompressionThreshold(Buffer.alloc(T - 1)), true)
  assert.equal(belowCompressionThreshold(Buffer.alloc(T)), false)
})

test('when a short text has characters of two or more bytes, then its length in bytes decides', () => {
  const text = 'é'.repeat(T / 2) // T / 2 characters, T bytes in UTF-8
  assert.equal(text.length < T, true)
  assert.equal(belowCompressionThreshold(text), false)
  assert.equal(belowCompressionThreshold('é'.repeat(T / 2 - 1)), true)
})
