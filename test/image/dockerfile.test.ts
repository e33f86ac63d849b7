import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { validate } from 'dockerfile-utils'
import { projectRoot } from '../../src/lib/project-root.js'
import { dockerfileProblems } from './dockerfile.js'

const read = (file: string) => readFile(join(projectRoot(), file), 'utf8')
const lint = (content: string) =>
  validate(content).map(
    (d) =>
      `line ${d.range.start.line + 1}: ${typeof d.message === 'string' ? d.message : d.message.value} (severity ${d.severity})`
  )

test('when the Dockerfile is linted (dockerfile-utils), then it reports nothing', async () => {
  assert.deepEqual(lint(await read('Dockerfile')), [])
})

test('when the linter is given broken Dockerfiles, then it reports each problem', () => {
  const base = 'FROM node:24.20.0-trixie-slim\n'
  const cases: [string, RegExp][] = [
    [`${base}HEALTHCHECK --interval=abc CMD ["true"]\n`, /invalid duration/],
    [`${base}WORKDIR app\n`, /should be absolute/],
    [`${base}CMD ["a"]\nCMD ["b"]\n`, /only be one CMD/],
    ['from node:24.20.0-trixie-slim\n', /uppercase/]
  ]
  for (const [content, expected] of cases) assert.match(lint(content).join('\n'), expected, content)
})

test('when the Dockerfile is checked, then it is multi-stage on a pinned Node 24, non-root, tini, exec-form CMD and HEALTHCHECK, production dependencies only', async () => {
  assert.deepEqual(dockerfileProblems(await read('Dockerfile')), [])
})

test('when a Dockerfile breaks one of those rules, then the check names it', async () => {
  const good = await read('Dockerfile')
  const cases: [string, (s: string) => string, RegExp][] = [
    [
      'floating base tag',
      (s) => s.replace(/node:24\.\d+\.\d+-trixie-slim AS deps/, 'node:24-slim AS deps'),
      /node:24-slim is not Node 24 pinned/
    ],
    [
      'Node 20 base',
      (s) => s.replace(/node:24\.\d+\.\d+-trixie-slim AS runtime/, 'node:20.20.0-bookworm-slim AS runtime'),
      /node:20\.20\.0-bookworm-slim is not Node 24/
    ],
    ['root user', (s) => s.replace(/^USER node$/m, 'USER root'), /non-root USER/],
    ['no user', (s) => s.replace(/^USER node$/m, ''), /non-root USER/],
    ['shell-form CMD', (s) => s.replace(/^CMD \[.*\]$/m, 'CMD node dist/src/server.js'), /CMD is not in exec form/],
    [
      'no instrumentation',
      (s) => s.replace(/^CMD \[.*\]$/m, 'CMD ["node", "dist/src/server.js"]'),
      /Sentry instrumentation/
    ],
    ['no tini', (s) => s.replace(/^ENTRYPOINT .*$/m, ''), /ENTRYPOINT is not tini/],
    [
      'shell-form HEALTHCHECK',
      (s) => s.replace(/CMD \["node", "-e",[^\n]*\]/, 'CMD curl -f http://127.0.0.1:5000/health'),
      /HEALTHCHECK/
    ],
    ['dev dependencies', (s) => s.replace('--omit=dev --omit=optional', ''), /does not install with npm ci --omit=dev/],
    [
      'whole context copied',
      (s) => s.replace('COPY migrations ./migrations', 'COPY . .'),
      /copies sources or the whole context/
    ],
    [
      'single stage',
      () => 'FROM node:24.20.0-trixie-slim\nCOPY . .\nRUN npm ci\nCMD ["node", "dist/src/server.js"]\n',
      /not a multi-stage build/
    ]
  ]
  for (const [name, mutate, expected] of cases) {
    const changed = mutate(good)
    assert.notEqual(changed, good, `${name}: the mutation applies`)
    assert.match(dockerfileProblems(changed).join('\n'), expected, name)
  }
})

test('when the build context is sent, then .dockerignore leaves out dependencies, builds, secrets, tests and git', async () => {
  const ignored = (await read('.dockerignore')).split('\n').map((line) => line.trim())
  for (const entry of ['**/node_modules', 'dist', '.env', '.env.*', '.data', 'test', '.git', 'backups'])
    assert.ok(ignored.includes(entry), `.dockerignore lists ${entry}`)
})
