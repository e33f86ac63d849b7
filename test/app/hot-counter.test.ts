import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Registry } from 'prom-client'
import { HotCounter } from '../../src/lib/hot-counter.js'

test('when a HotCounter is incremented between scrapes, then each scrape shows the running totals, counted once', async () => {
  const registry = new Registry()
  const counter = new HotCounter({ name: 'things_total', help: 'Things', labelNames: ['kind'], registers: [registry] })
  const a = counter.series({ kind: 'a' })
  const scrape = async () => (await registry.metrics()).split('\n').filter((line) => line.startsWith('things_total{'))
  for (let i = 0; i < 3; i++) a.inc()
  counter.series({ kind: 'b' }).inc()
  assert.deepEqual(await scrape(), ['things_total{kind="a"} 3', 'things_total{kind="b"} 1'])
  assert.deepEqual(
    await scrape(),
    ['things_total{kind="a"} 3', 'things_total{kind="b"} 1'],
    'a second scrape adds nothing'
  )
  counter.series({ kind: 'b' }).inc()
  // Label values, not objects, name a series: asking again with a new object counts on the same one.
  assert.equal(counter.series({ kind: 'a' }), a)
  counter.series({ kind: 'a' }).inc()
  assert.deepEqual(await scrape(), ['things_total{kind="a"} 4', 'things_total{kind="b"} 2'])
})

test('when label values differ only in where a separator could fall, then they are separate series', async () => {
  const registry = new Registry()
  const counter = new HotCounter({ name: 'pairs_total', help: 'Pairs', labelNames: ['x', 'y'], registers: [registry] })
  counter.series({ x: 'a b', y: 'c' }).inc()
  counter.series({ x: 'a', y: 'b c' }).inc()
  const lines = (await registry.metrics()).split('\n').filter((line) => line.startsWith('pairs_total{'))
  assert.deepEqual(lines.sort(), ['pairs_total{x="a b",y="c"} 1', 'pairs_total{x="a",y="b c"} 1'])
})
