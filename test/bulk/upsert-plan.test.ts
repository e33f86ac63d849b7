import assert from 'node:assert/strict'
import { test } from 'node:test'
import { same } from '../../src/modules/bulk/upsert-plan.js'
import { canonicalJson } from '../../src/writes/audit-chain.js'

test('when a re-import compares a stored value with the file’s, then it is the same exactly when their canonical JSON is', () => {
  const values: unknown[] = [
    null,
    undefined,
    0,
    1999,
    '1999',
    '',
    true,
    [],
    {},
    ['S'],
    ['S', 'M'],
    ['M', 'S'],
    [null],
    [undefined],
    { currency: 'USD', amountCents: 1999 },
    { amountCents: 1999, currency: 'USD' },
    { amountCents: 1999, currency: 'USD', extra: undefined },
    { amountCents: 1999, currency: 'USD', extra: null },
    { amountCents: 1999, currency: 'EUR' },
    [{ name: 'Size', values: ['S', 'M'] }],
    [{ values: ['S', 'M'], name: 'Size' }],
    [{ name: 'Size', values: ['S'] }],
    { a: { b: [1, { c: 2 }] } },
    { a: { b: [1, { c: 3 }] } },
    { a: { b: [1, { c: 2, d: undefined }] } }
  ]
  for (const a of values) {
    for (const b of values) {
      assert.equal(same(a, b), canonicalJson(a) === canonicalJson(b), `${canonicalJson(a)} vs ${canonicalJson(b)}`)
    }
  }
})
