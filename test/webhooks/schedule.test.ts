import assert from 'node:assert/strict'
import { test } from 'node:test'
import { nextDelayMs, parseSchedule } from '../../src/modules/webhooks/schedule.js'
import { refusedRange } from '../../src/modules/webhooks/ssrf.js'

const defaults = parseSchedule('5s,30s,5m,30m,2h,6h', '12h', '72h')

test('when a delivery keeps failing, then the waits follow 5 s, 30 s, 5 min, 30 min, 2 h, 6 h, then 12 h, each within ±20 %, and stop after 72 h', () => {
  const bases = [5_000, 30_000, 300_000, 1_800_000, 7_200_000, 21_600_000, 43_200_000, 43_200_000]
  bases.forEach((base, i) => {
    assert.equal(
      nextDelayMs(defaults, i + 1, 0, () => 0),
      base * 0.8
    )
    assert.equal(
      nextDelayMs(defaults, i + 1, 0, () => 1),
      base * 1.2
    )
  })
  // Jitter spreads retries: 100 draws of the first wait are not all equal.
  assert.ok(new Set(Array.from({ length: 100 }, () => nextDelayMs(defaults, 1, 0))).size > 50)
  // Following the schedule (with the middle of the jitter) gives up once the next wait would pass 72 h.
  let age = 0
  let attempts = 0
  for (;;) {
    attempts += 1
    const delay = nextDelayMs(defaults, attempts, age, () => 0.5)
    if (delay === null) break
    age += delay
  }
  assert.ok(age <= 72 * 3_600_000 && age > 60 * 3_600_000, `gave up at ${age / 3_600_000} h`)
  assert.equal(attempts, 12)
})

test('when addresses are classified, then only public unicast ones are allowed (IPv4-mapped IPv6 counts as its IPv4)', () => {
  assert.equal(refusedRange('93.184.216.34'), null)
  assert.equal(refusedRange('2606:2800:220:1:248:1893:25c8:1946'), null)
  assert.equal(refusedRange('127.0.0.1'), 'loopback')
  assert.equal(refusedRange('::ffff:127.0.0.1'), 'loopback')
  assert.equal(refusedRange('169.254.169.254'), 'linkLocal')
  assert.equal(refusedRange('100.64.0.1'), 'carrierGradeNat')
  assert.equal(refusedRange('fd12::1'), 'uniqueLocal')
})
