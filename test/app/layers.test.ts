// The import layers of docs/architecture.md, as eslint enforces them (eslint.layers.js, part of `npm run lint`).
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { ESLint } from 'eslint'
import { projectRoot } from '../../src/lib/project-root.js'
// @ts-expect-error: plain JavaScript configuration without type declarations
import { layers } from '../../eslint.layers.js'

const eslint = new ESLint({
  cwd: projectRoot(),
  overrideConfigFile: true,
  overrideConfig: [{ files: ['**/*.ts'] }, ...layers]
})

/** The import-layer findings for `code` placed at `file` (relative to the project root). */
async function findings(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(projectRoot(), file) })
  return (result?.messages ?? []).map((m) => `${m.ruleId}: ${m.message}`)
}

test('when a lower layer imports a higher one, then lint fails naming the rule', async () => {
  const refused: [string, string][] = [
    ['src/plugins/app/x.ts', "import { a } from '../../modules/products/service.js'"],
    ['src/cache/x.ts', "import { a } from '../modules/categories/repository.js'"],
    ['src/db/x.ts', "import { a } from '../modules/api-keys/service.js'"],
    ['src/db/x.ts', "import { a } from '../writes/mutation.js'"],
    ['src/redis/x.ts', "import { a } from '../rate-limit/gcra.js'"],
    ['src/lib/x.ts', "import { a } from '../plugins/app/problems.js'"],
    ['src/lib/x.ts', "import { a } from '../db/pool.js'"],
    ['src/config.ts', "import { a } from './rate-limit/gcra.js'"],
    ['src/modules/products/x.ts', "import { a } from '../../app.js'"]
  ]
  for (const [file, code] of refused) {
    const found = await findings(file, code)
    assert.equal(found.length, 1, `${file}: ${code}`)
    assert.match(found[0] as string, /^no-restricted-imports: /)
  }
})

test('when a layer imports itself or a lower one, then lint passes', async () => {
  const allowed: [string, string][] = [
    ['src/modules/products/x.ts', "import { a } from '../../cache/response.js'"],
    ['src/modules/products/x.ts', "import { a } from '../categories/repository.js'"],
    ['src/plugins/app/x.ts', "import { a } from '../../rate-limit/gcra.js'"],
    ['src/rate-limit/x.ts', "import { a } from '../redis/turn-batch.js'"],
    ['src/db/x.ts', "import { a } from '../lib/cursor.js'"],
    ['src/app.ts', "import { a } from './modules/products/index.js'"]
  ]
  for (const [file, code] of allowed) assert.deepEqual(await findings(file, code), [], `${file}: ${code}`)
})
