// npm start: builds dist/ when a source file is newer than the last build, then runs the server.
// Keeps restarts fast (no compiler run) while a fresh clone or an edit still gets a build.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { writeBuildStamp } from './build-stamp.mjs'

const root = new URL('..', import.meta.url).pathname
const stamp = join(root, 'dist', '.build-stamp')

function newestMtime(path) {
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  return Math.max(0, ...readdirSync(path).map((entry) => newestMtime(join(path, entry))))
}

const inputs = ['src', 'scripts', 'tsconfig.json', 'tsconfig.build.json', 'package.json'].map((p) => join(root, p))
const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0
if (Math.max(...inputs.filter(existsSync).map(newestMtime)) > built) {
  execFileSync(
    process.execPath,
    [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')],
    {
      stdio: 'inherit'
    }
  )
  writeBuildStamp(root)
}
// Sentry first (when SENTRY_DSN is set), so it is initialised before the HTTP stack loads.
await import('../dist/src/instrument.js')
await import('../dist/src/server.js')
