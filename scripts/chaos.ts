// npm run test:chaos [-- --short]: the chaos suite (test/chaos) on a production-like stack; it writes its
// figures to docs/reliability.md. The short form (each fault once, 3 s outages) is what CI runs.
import { spawn } from 'node:child_process'
import { projectRoot } from '../src/lib/project-root.js'

const form = process.argv.includes('--short') ? 'short' : 'full'
// Other arguments go to node --test, e.g. --test-name-pattern="Primary" to run one scenario.
const passed = process.argv.slice(2).filter((arg) => arg !== '--short' && arg !== '--full')
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...passed, 'test/chaos/stack.chaos.ts'],
  { cwd: projectRoot(), env: { ...process.env, CHAOS_FORM: form }, stdio: 'inherit' }
)
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
