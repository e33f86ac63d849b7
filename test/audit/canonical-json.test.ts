import assert from 'node:assert/strict'
import { test } from 'node:test'
import { canonicalJson } from '../../src/writes/audit-chain.js'

/** The definition the chain's hashes were made with: entries filtered, sorted by key, mapped and joined. */
function reference(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`
}

/** A pseudo-random JSON-like value (a fixed seed, so a failure repeats). */
function generator(seed: number) {
  let state = seed
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31
    return state / 2 ** 31
  }
  const texts = [
    '',
    'a',
    'Z',
    'é',
    'a"b',
    'back\\slash',
    'line\nbreak',
    '\u2028',
    '😀',
    'amountCents',
    'currency',
    '0',
    '10',
    '-'
  ]
  const text = () =>
    next() < 0.2 ? String.fromCharCode(Math.floor(next() * 0x3000)) : texts[Math.floor(next() * texts.length)]!
  const value = (depth: number): unknown => {
    const r = next()
    if (depth > 3 || r < 0.35) {
      const leaves = [null, undefined, true, false, 0, -0, 1.5, -42, 1e21, 2 ** 53 + 2, Number.NaN, Infinity, text()]
      return leaves[Math.floor(next() * leaves.length)]
    }
    if (r < 0.6) return Array.from({ length: Math.floor(next() * 5) }, () => value(depth + 1))
    const object: Record<string, unknown> = {}
    for (let i = Math.floor(next() * 6); i > 0; i--) object[text()] = value(depth + 1)
    return object
  }
  return () => value(0)
}

test('when values of every JSON kind, odd keys and undefined members are canonicalised, then the text is the reference definition’s, byte for byte', () => {
  const fixed: unknown[] = [
    null,
    undefined,
    'x',
    0,
    -0,
    Number.NaN,
    [],
    {},
    [undefined, () => 1, Symbol('s')],
    { b: 1, a: { d: [1, { f: undefined, e: null }], c: 'é' }, '': 0, A: true, é: false, '10': 1, '9': 2 },
    new Date(0),
    { toJSON: () => 'ignored', z: 1 }
  ]
  for (const v of fixed) assert.equal(canonicalJson(v), reference(v))
  const random = generator(20261206)
  for (let i = 0; i < 5000; i++) {
    const v = random()
    assert.equal(canonicalJson(v), reference(v), JSON.stringify(v))
  }
})

test('when more distinct keys are met than are kept quoted, then keys past the limit are still quoted exactly', () => {
  const object: Record<string, number> = {}
  for (let i = 0; i < 5000; i++) object[`key "${i}"\n`] = i
  assert.equal(canonicalJson(object), reference(object))
  assert.equal(canonicalJson(object), reference(object))
})
