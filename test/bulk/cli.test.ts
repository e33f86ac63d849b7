import assert from 'node:assert/strict'
import { rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { runScript } from '../audit/support.js'
import { build } from '../helper.js'

const fixture = fileURLToPath(new URL('fixtures/shopify-products.csv', import.meta.url))

test('when npm run import reads a Shopify CSV, then it imports it with the system actor and prints a summary; again, nothing changes', async (t) => {
  const app = await build(t)
  const first = await runScript('import.ts', [fixture, '--currency', 'USD'], app.target)
  assert.equal(first.code, 0, first.out)
  assert.match(first.out, /completed: 8 rows, 8 variants .* created 3, updated 0, unchanged 0, failed 0; 0 errors/)
  assert.match(first.out, /\[#+\] 100%/)
  const { rows } = await app.db.primary.query<{ actor_type: string; actor_name: string; n: number }>(
    `SELECT actor_type, actor_name, count(*)::int AS n FROM audit_log WHERE entity_type = 'product'
      GROUP BY actor_type, actor_name`
  )
  assert.deepEqual(rows, [{ actor_type: 'system', actor_name: 'import', n: 3 }])
  const again = await runScript('import.ts', [fixture, '--currency', 'USD', '--dry-run'], app.target)
  assert.match(again.out, /dry run: nothing written.* created 0, updated 0, unchanged 3, failed 0/)
})

test('when npm run import is given a CSV without a required column, then it exits 2 naming the column', async (t) => {
  const app = await build(t)
  const file = join(tmpdir(), `import-cli-${process.pid}.csv`)
  await writeFile(file, 'Handle,Title\nshirt,Shirt\n')
  t.after(() => rm(file, { force: true }))
  const res = await runScript('import.ts', [file], app.target)
  assert.equal(res.code, 2)
  assert.match(res.out, /The CSV header has no Variant SKU column/)
})
