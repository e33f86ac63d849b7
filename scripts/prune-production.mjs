// Removes from a production install (`npm ci --omit=dev --omit=optional`) what the service never loads. Run by the
// Dockerfile and by test/image/image.test.ts, which rebuilds the image's contents; plain JavaScript, because it runs
// where nothing is compiled. Usage: node scripts/prune-production.mjs <folder holding package.json and node_modules>
import process from 'node:process'
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'

/**
 * Packages that production never loads, with what they are. Anything that only they depend on goes with them.
 * - @sentry/bundler-plugins: Sentry's source-map upload for webpack, vite, rollup and esbuild builds, reached only
 *   through @sentry/node/bundler-plugin/*; it brings the Sentry CLI (the `sentry` package, 22 MB) and oxc-parser.
 */
export const NEVER_LOADED = ['@sentry/bundler-plugins']

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'))

/** The folder a package named `name` resolves to from `from` (Node's node_modules walk), if installed. */
function resolvePackage(name, from, root) {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name)
    if (existsSync(join(candidate, 'package.json'))) return candidate
    if (dir === root || dirname(dir) === dir) return undefined
  }
}

/** Every installed package folder (node_modules/x, node_modules/@s/x and nested ones). */
function installedPackages(modules, out = []) {
  if (!existsSync(modules)) return out
  for (const entry of readdirSync(modules)) {
    if (entry.startsWith('.')) continue
    const path = join(modules, entry)
    if (entry.startsWith('@')) {
      for (const scoped of readdirSync(path)) collect(join(path, scoped), out)
    } else collect(path, out)
  }
  return out
}
function collect(path, out) {
  if (!existsSync(join(path, 'package.json'))) return
  out.push(path)
  installedPackages(join(path, 'node_modules'), out)
}

/** Package folders reachable from the root package's dependencies without passing through NEVER_LOADED. */
function reachable(root) {
  const seen = new Set()
  const visit = (dir) => {
    const pkg = readJson(join(dir, 'package.json'))
    const names = Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies, ...pkg.peerDependencies })
    for (const name of names) {
      if (NEVER_LOADED.includes(name)) continue
      const found = resolvePackage(name, dir, root)
      if (found && !seen.has(found)) {
        seen.add(found)
        visit(found)
      }
    }
  }
  visit(root)
  return seen
}

function removeSourceMaps(dir) {
  let bytes = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) bytes += removeSourceMaps(path)
    else if (entry.name.endsWith('.map')) {
      bytes += statSync(path).size
      rmSync(path)
    }
  }
  return bytes
}

export function pruneProduction(root) {
  const keep = reachable(root)
  const removed = installedPackages(join(root, 'node_modules')).filter((dir) => !keep.has(dir))
  // Deepest first, so a nested folder is gone before its parent.
  for (const dir of removed.sort((a, b) => b.length - a.length)) {
    rmSync(dir, { recursive: true, force: true })
    const scope = dirname(dir)
    if (scope.split('/').pop()?.startsWith('@') && readdirSync(scope).length === 0) rmSync(scope, { recursive: true })
  }
  // Command links of removed packages (node_modules/.bin/sentry and the like) would point nowhere.
  const bin = join(root, 'node_modules', '.bin')
  if (existsSync(bin)) for (const link of readdirSync(bin)) if (!existsSync(join(bin, link))) rmSync(join(bin, link))
  // Dependencies' source maps: Node reads none of them without --enable-source-maps, and it is not set.
  const mapBytes = removeSourceMaps(join(root, 'node_modules'))
  return { removed: removed.map((dir) => dir.slice(root.length + 1)), mapBytes }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = process.argv[2] ?? process.cwd()
  const { removed, mapBytes } = pruneProduction(root)
  process.stdout.write(
    `removed ${removed.length} packages production never loads (${removed.join(', ')}) and ${(mapBytes / 1e6).toFixed(1)} MB of source maps\n`
  )
}
