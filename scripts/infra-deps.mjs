// infra/ (AWS CDK) is an npm package of its own. `npm test`, `npm run lint` and `npm run typecheck` read it (test/infra,
// the type-aware lint of infra/), so each runs this first: on a fresh clone it installs infra/ once
// (`npm run infra:install`); after that it does nothing.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import process from 'node:process'
import { fileURLToPath } from 'node:url'

const root = join(fileURLToPath(import.meta.url), '../..')
if (!existsSync(join(root, 'infra', 'node_modules', 'aws-cdk-lib', 'package.json'))) {
  process.stdout.write('# installing infra/ (npm run infra:install), once\n')
  execFileSync('npm', ['run', '-s', 'infra:install'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] })
}
