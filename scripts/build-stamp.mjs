// Written after every compile (npm run build, npm start): dist/.build-stamp tells npm start the build is current;
// dist/.build-commit holds the commit the build was made from, for catalog_build_info (GIT_COMMIT overrides it).
import { execFileSync } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import process from 'node:process'
import { fileURLToPath } from 'node:url'

export function writeBuildStamp(root) {
  const commitFile = join(root, 'dist', '.build-commit')
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: 'pipe' }).trim()
    writeFileSync(commitFile, `${commit}\n`)
  } catch {
    // Not a git checkout (e.g. a container build without .git): the commit is unknown unless GIT_COMMIT says.
    rmSync(commitFile, { force: true })
  }
  writeFileSync(join(root, 'dist', '.build-stamp'), '')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) writeBuildStamp(join(fileURLToPath(import.meta.url), '../..'))
