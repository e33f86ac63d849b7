import { mkdir, rename, rm, stat } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { withTarget } from './cli.js'
import { loadConfigOrExit } from '../src/config.js'
import { pgToolEnv, runPgTool, timestamp } from './pg-tools.js'

// npm run backup [-- --out FILE]: a pg_dump of the configured database in custom format (compressed; pg_restore
// can restore it whole or table by table). Needs pg_dump on PATH, as new as the server.
const { values } = parseArgs({ options: { out: { type: 'string' } } })
const config = loadConfigOrExit()
const file = resolve(values.out ?? join('backups', `${config.DB_NAME}-${timestamp()}.dump`))
const partial = `${file}.partial`
await mkdir(dirname(file), { recursive: true })

await withTarget(config, async (target) => {
  try {
    // One consistent snapshot of the whole database, taken without blocking writers.
    await runPgTool('pg_dump', ['--format=custom', '--file', partial], pgToolEnv(config, target))
  } catch (err) {
    await rm(partial, { force: true })
    throw err
  }
})
// Renamed only once complete: a file under the final name is always a whole backup.
await rename(partial, file)
process.stdout.write(`backup written: ${file} (${((await stat(file)).size / 1e6).toFixed(2)} MB)\n`)
