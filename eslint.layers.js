// What may import what (docs/architecture.md): features (src/modules) → shared capabilities (src/plugins,
// src/writes, src/cache, src/rate-limit) → infrastructure (src/db, src/redis) → foundation (src/lib, config,
// errors). A layer imports only the layers after it; the entry points (src/app.ts, serve.ts, server.ts,
// bootstrap.ts, startup-summary.ts) may import everything. Checked by test/app/layers.test.ts too.
const FEATURES = { group: ['**/modules/**'], message: 'Only the entry points import a feature (src/modules).' }
const CAPABILITIES = {
  group: ['**/plugins/**', '**/writes/**', '**/cache/**', '**/rate-limit/**'],
  message: 'Infrastructure and foundation do not import shared capabilities.'
}
const INFRASTRUCTURE = { group: ['**/db/**', '**/redis/**'], message: 'The foundation does not import infrastructure.' }
const ENTRY_POINTS = {
  group: ['**/app.js', '**/serve.js', '**/server.js', '**/bootstrap.js', '**/startup-summary.js'],
  message: 'Only entry points import entry points.'
}

const rule = (...patterns) => ({ 'no-restricted-imports': ['error', { patterns }] })

export const layers = [
  {
    files: ['src/plugins/**/*.ts', 'src/writes/**/*.ts', 'src/cache/**/*.ts', 'src/rate-limit/**/*.ts'],
    rules: rule(FEATURES, ENTRY_POINTS)
  },
  { files: ['src/db/**/*.ts', 'src/redis/**/*.ts'], rules: rule(FEATURES, CAPABILITIES, ENTRY_POINTS) },
  {
    files: ['src/lib/**/*.ts', 'src/config.ts', 'src/config-checks.ts', 'src/errors.ts'],
    rules: rule(FEATURES, CAPABILITIES, INFRASTRUCTURE, ENTRY_POINTS)
  },
  { files: ['src/modules/**/*.ts'], rules: rule(ENTRY_POINTS) }
]
