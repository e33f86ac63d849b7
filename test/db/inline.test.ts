import assert from 'node:assert/strict'
import { test } from 'node:test'
import { arrayLiteral } from '../../src/db/inline.js'

test('when a seal pass writes its ids, positions and event types as array literals, then they are exact and anything needing quotes is refused', () => {
  assert.equal(arrayLiteral([1, 22, 9_007_199_254_740_991]), '{1,22,9007199254740991}')
  assert.equal(arrayLiteral(['product.created', 'variant.stock_changed']), '{product.created,variant.stock_changed}')
  assert.equal(arrayLiteral([]), '{}')
  for (const bad of [['a,b'], ['a b'], ['"x"'], ['back\\slash'], ['{x}'], ['null'], ['NULL'], ['']] as string[][])
    assert.throws(() => arrayLiteral(bad), TypeError, JSON.stringify(bad))
  for (const bad of [1.5, Number.NaN, 2 ** 53]) assert.throws(() => arrayLiteral([bad]), TypeError, String(bad))
})
