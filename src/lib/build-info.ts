import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { projectRoot } from './project-root.js'

export interface BuildInfo {
  version: string
  commit: string
  node_version: string
}

/**
 * What is running: the package version, the commit (GIT_COMMIT, else the one `npm run build` recorded next to the
 * compiled code, else "unknown") and the Node.js version.
 */
export function buildInfo(gitCommit: string | undefined): BuildInfo {
  const root = projectRoot()
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
  return { version, commit: gitCommit ?? recordedCommit() ?? 'unknown', node_version: process.version }
}

/** dist/.build-commit, read only when this module runs from dist/ (tsx from src/ has no build to speak of). */
function recordedCommit(): string | undefined {
  try {
    const commit = readFileSync(new URL('../../.build-commit', import.meta.url), 'utf8').trim()
    return /^[0-9a-f]{7,64}$/.test(commit) ? commit : undefined
  } catch {
    return undefined
  }
}
