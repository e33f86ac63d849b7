import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { fail, withTarget } from './cli.js'
import { loadConfigOrExit } from '../src/config.js'
import { pgToolEnv, runPgTool, timestamp } from './pg-tools.js'

// npm run restore -- FILE [--database NAME]: restores a backup of `npm run backup` into a NEW database, never over
// an existing one, on the configured server. Needs pg_restore on PATH.
const USAGE = 'usage: npm run restore -- FILE [--database NAME]'
const { values, positionals } = parseArgs({ allowPositionals: true, options: { database: { type: 'string' } } })
const [file] = positionals
if (!file || positionals.length > 1) fail(USAGE)
if (!existsSync(file)) fail(`${file} does not exist`)
const config = loadConfigOrExit()
const database = values.database ?? `${config.DB_NAME}_restored_${timestamp().toLowerCase()}`
if (!/^[a-z_][a-z0-9_]{0,62}$/.test(database))
  fail(`--database must be 1-63 lower-case letters, digits or underscores, not starting with a digit\n${USAGE}`)

await withTarget(config, async (target) => {
  const admin = new pg.Client({ ...target, ssl: config.DB_SSL ? { rejectUnauthorized: true } : undefined })
  await admin.connect()
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])
    if (rowCount) fail(`database ${database} already exists: restore into a new one (--database NAME)`)
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(database)} TEMPLATE template0`)
    try {
      // One transaction: the new database ends up with the whole backup or, after an error, is dropped.
      // Owners and grants are left out: the restoring user owns everything, as on a fresh RDS instance.
      await runPgTool(
        'pg_restore',
        ['--dbname', database, '--no-owner', '--no-acl', '--exit-on-error', '--single-transaction', file],
        pgToolEnv(config, target)
      )
    } catch (err) {
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)}`)
      throw err
    }
  } finally {
    await admin.end()
  }
})
process.stdout.write(`restored ${file} into database ${database}\ncheck it: DB_NAME=${database} npm run audit:verify\n`)
