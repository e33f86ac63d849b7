import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Registry } from 'prom-client'
import { HotCounter } from '../../src/lib/hot-counter.js'

test('when a HotCounter is incremented between scrapes, then each scrape shows the running totals, counted once', async () => {
  const registry = new Registry()
  const counter = new HotCounter({ name: 'things_total', help: 'Things', labelNames: ['kind'], registers: [registry] })
  const labelsOf = HotCounter.labelsBy((kind: string) => ({ kind }))
  assert.equal(labelsOf('a'), labelsOf('a'), 'one labels object per key')
  const scrape = async () => (await registry.metrics()).split('\n').filter((line) => line.startsWith('things_total{'))
  for (let i = 0; i < 3; i++) counter.inc(labelsOf('a'))
  counter.inc(labelsOf('b'))
  assert.deepEqual(await scrape(), ['things_total{kind="a"} 3', 'things_total{kind="b"} 1'])
  assert.deepEqual(
    await scrape(),
    ['things_total{kind="a"} 3', 'things_total{kind="b"} 1'],
    'a second scrape adds nothing'
  )
  counter.inc(labelsOf('b'))
  // A separate labels object with the same values is the same series.
  counter.inc({ kind: 'a' })
  assert.deepEqual(await scrape(), ['things_total{kind="a"} 4', 'things_total{kind="b"} 2'])
})
