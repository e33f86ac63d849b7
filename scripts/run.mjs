// Runs the compiled server or a command from dist/: `node scripts/run.mjs start` or `node scripts/run.mjs <command> [args]`
// (dist/scripts/<command>.js). In a source checkout it first rebuilds dist/ when a source file is newer than the last
// build, so a fresh clone or an edit still runs current code; in the production image (no src/, no TypeScript) it
// runs what is there. Plain JavaScript, because it must run before anything is compiled.
import process from 'node:process'
import { URL } from 'node:url'
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const stamp = join(root, 'dist', '.build-stamp')
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')

function newestMtime(path) {
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  return Math.max(0, ...readdirSync(path).map((entry) => newestMtime(join(path, entry))))
}

if (existsSync(join(root, 'src')) && existsSync(tsc)) {
  const inputs = ['src', 'scripts', 'tsconfig.json', 'tsconfig.build.json', 'package.json'].map((p) => join(root, p))
  const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0
  if (Math.max(...inputs.filter(existsSync).map(newestMtime)) > built) {
    execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' })
    const { writeBuildStamp } = await import('./build-stamp.mjs') // not in the image, which never rebuilds
    writeBuildStamp(root)
  }
}

const [command = 'start'] = process.argv.splice(2, 1) // the command's own arguments stay in process.argv
if (command === 'start') {
  // Sentry first (when SENTRY_DSN is set), so it is initialised before the HTTP stack loads.
  await import('../dist/src/instrument.js')
  await import('../dist/src/server.js')
} else {
  if (!/^[a-z][a-z-]*$/.test(command) || !existsSync(join(root, 'dist', 'scripts', `${command}.js`))) {
    process.stderr.write(`unknown command ${JSON.stringify(command)}: no dist/scripts/${command}.js\n`)
    process.exit(2)
  }
  await import(`../dist/scripts/${command}.js`)
}
