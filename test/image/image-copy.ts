import { execFile } from 'node:child_process'
import { cp, lstat, mkdir, mkdtemp, readFile, readdir, rename, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { promisify } from 'node:util'
import { projectRoot } from '../../src/lib/project-root.js'
import { parseStages, type Stage } from './dockerfile.js'

const run = promisify(execFile)

export interface ImageCopy {
  /** The image's WORKDIR (/app), rebuilt in a temporary folder. */
  app: string
  /** The runtime stage's ENV, as the container has it. */
  env: Record<string, string>
  /** The runtime stage's CMD and HEALTHCHECK in exec form. */
  cmd: string[]
  healthcheck: string[]
  remove(): Promise<void>
}

const WORKDIR = '/app'

/** `du`: the disk space a folder takes, in bytes. */
export async function diskUsage(path: string): Promise<number> {
  const info = await lstat(path)
  if (!info.isDirectory()) return info.blocks * 512
  let total = info.blocks * 512
  for (const entry of await readdir(path)) total += await diskUsage(join(path, entry))
  return total
}

function stage(stages: Stage[], name: string): Stage {
  const found = stages.find((s) => s.name === name)
  if (!found) throw new Error(`the Dockerfile has no stage ${name}`)
  return found
}

/**
 * What the production image holds, made without Docker by following the Dockerfile: the `deps` stage's `npm ci`
 * command as written there (from the local npm cache when it can) and the prune script; the `build` stage's
 * compile (tsc -p tsconfig.build.json, into its own folder); then the runtime stage's COPY instructions, each
 * carried out as written.
 */
export async function buildImageCopy(): Promise<ImageCopy> {
  const root = projectRoot()
  const stages = parseStages(await readFile(join(root, 'Dockerfile'), 'utf8'))
  const runtime = stages.at(-1)
  if (!runtime) throw new Error('the Dockerfile has no stage')
  const tmp = await mkdtemp(join(tmpdir(), 'catalog-image-'))
  const stageDirs: Record<string, string> = {}
  try {
    const deps = join(tmp, 'deps')
    stageDirs.deps = deps
    await mkdir(deps)
    await cp(join(root, 'package.json'), join(deps, 'package.json'))
    await cp(join(root, 'package-lock.json'), join(deps, 'package-lock.json'))
    const install = stage(stages, 'deps')
      .steps.filter((s) => s.keyword === 'RUN')
      .flatMap((s) => s.args.split('&&').map((part) => part.trim()))
      .find((part) => part.startsWith('npm ci '))
    if (!install) throw new Error('the deps stage has no npm ci')
    const [, ...args] = install.split(/\s+/)
    await run('npm', [...args, '--prefer-offline'], { cwd: deps, maxBuffer: 16 << 20 })
    await run(process.execPath, [join(root, 'scripts', 'prune-production.mjs'), deps])

    const build = join(tmp, 'build')
    stageDirs.build = build
    await run(
      process.execPath,
      [
        join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
        '-p',
        'tsconfig.build.json',
        '--outDir',
        join(build, 'dist')
      ],
      { cwd: root, maxBuffer: 16 << 20 }
    )

    const app = join(tmp, 'app')
    await mkdir(app)
    for (const copy of runtime.steps.filter((s) => s.keyword === 'COPY')) {
      const parts = copy.args.split(/\s+/)
      const dest = parts.pop() ?? ''
      for (const source of parts) {
        const from = copy.from ? join(stageDirs[copy.from] ?? '', relative(WORKDIR, source)) : join(root, source)
        const to = dest.endsWith('/') ? join(app, dest, source.split('/').pop() ?? '') : join(app, dest)
        await mkdir(join(to, '..'), { recursive: true })
        if (copy.from) await rename(from, to)
        else await cp(from, to, { recursive: true })
      }
    }
    const env = Object.assign({}, ...runtime.steps.filter((s) => s.env).map((s) => s.env)) as Record<string, string>
    const cmd = runtime.steps.filter((s) => s.keyword === 'CMD').at(-1)?.exec
    const healthcheck = runtime.steps.filter((s) => s.keyword === 'HEALTHCHECK').at(-1)?.exec
    if (!cmd || !healthcheck) throw new Error('the runtime stage has no exec-form CMD or HEALTHCHECK')
    return { app, env, cmd, healthcheck, remove: () => rm(tmp, { recursive: true, force: true }) }
  } catch (err) {
    await rm(tmp, { recursive: true, force: true })
    throw err
  }
}
