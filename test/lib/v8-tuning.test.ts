import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { projectRoot } from '../../src/lib/project-root.js'

const run = promisify(execFile)
const root = projectRoot()

// Objects of one literal site kept alive across young collections, then dropped: the pattern that makes V8 decide
// to allocate that site in the old generation. V8 reports each decision under --trace-pretenuring-statistics.
const WORKLOAD = `
const keep = []
const make = (i) => ({ i, s: 'x' + i, a: [i, i + 1] })
for (let round = 0; round < 200; round++) {
  const batch = []
  for (let i = 0; i < 20000; i++) batch.push(make(i))
  keep.push(batch)
  if (keep.length > 20) keep.shift()
}
`

async function pretenuringDecisions(preload: string[]): Promise<number> {
  const { stdout } = await run(
    process.execPath,
    [...preload, '--trace-pretenuring-statistics', '--input-type=module', '-e', WORKLOAD],
    { cwd: root, maxBuffer: 16 * 1024 * 1024 }
  )
  return stdout.split('\n').filter((line) => /=> (maybe )?tenure\b/.test(line)).length
}

test('when the tuning module is loaded first, then V8 pretenures no allocation site', async () => {
  const untuned = await pretenuringDecisions([])
  // The workload must provoke pretenuring on its own, or the tuned run below would prove nothing.
  assert.ok(untuned > 0, 'the workload alone made no pretenuring decision')
  const tuned = await pretenuringDecisions(['--import', 'tsx', '--import', './src/lib/v8-tuning.ts'])
  assert.equal(tuned, 0)
})

test('when the server or its Sentry preload starts, then the tuning module is their first import', async () => {
  for (const entry of ['src/server.ts', 'src/instrument.ts']) {
    const source = await readFile(join(root, entry), 'utf8')
    const firstImport = source.split('\n').find((line) => line.startsWith('import '))
    assert.match(firstImport ?? '', /^import '\.\/lib\/v8-tuning\.js'/, entry)
  }
})
