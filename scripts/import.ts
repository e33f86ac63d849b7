import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import pino from 'pino'
import { RedisStore } from '../src/cache/store.js'
import { loadConfigOrExit } from '../src/config.js'
import { createDatabase } from '../src/db/database.js'
import { migrate } from '../src/db/migrate.js'
import { createPool } from '../src/db/pool.js'
import { RedisConnection, redisSettings } from '../src/redis/connection.js'
import * as imports from '../src/modules/bulk/import-service.js'
import { type Progress, rowToImport } from '../src/modules/bulk/repository.js'
import { IMPORT_FORMATS, type ImportFormat } from '../src/modules/bulk/schemas.js'
import { systemContext } from '../src/writes/mutation.js'
import { fail, withTarget } from './cli.js'

// npm run import -- products.csv [--dry-run] [--format ndjson|csv|shopify-csv] [--currency USD]
// The same import as POST /api/v1/imports, written straight to the database (audit entries with the system actor
// "import"); with REDIS_URL set, the API instances' cached reads of the changed products are invalidated too.
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'dry-run': { type: 'boolean', default: false },
    format: { type: 'string' },
    currency: { type: 'string' }
  }
})
const file = positionals[0]
if (!file || positionals.length > 1) fail('usage: npm run import -- <file.ndjson|file.csv> [--dry-run] [--format F]')
const format = values.format as ImportFormat | undefined
if (format !== undefined && !IMPORT_FORMATS.includes(format))
  fail(`--format must be one of ${IMPORT_FORMATS.join(', ')}`)
const size = (await stat(file).catch(() => fail(`${file}: no such file`))).size
const syntax = format === 'ndjson' || (!format && /\.(nd)?jsonl?$/i.test(file)) ? 'ndjson' : 'csv'

const config = loadConfigOrExit()
const log = pino({ level: 'warn' }, pino.destination(2))
const started = Date.now()
let bytes = 0

async function* counted(): AsyncGenerator<Buffer> {
  for await (const chunk of createReadStream(file as string, { highWaterMark: 256 * 1024 })) {
    bytes += (chunk as Buffer).length
    yield chunk as Buffer
  }
}

const line = (p: Pick<Progress, 'rows' | 'variants' | 'created' | 'updated' | 'unchanged' | 'failed'>) => {
  const seconds = (Date.now() - started) / 1000
  const share = size ? bytes / size : 1
  const bar = '#'.repeat(Math.round(share * 30)).padEnd(30, '.')
  return (
    `[${bar}] ${Math.floor(share * 100)}% ${p.rows} rows, ${Math.round(p.variants / Math.max(seconds, 0.001))} variants/s ` +
    `created ${p.created} updated ${p.updated} unchanged ${p.unchanged} failed ${p.failed}`
  )
}

const result = await withTarget(config, async (target) => {
  const pool = createPool(config, target, { max: 3, name: 'import', log, applicationName: 'catalog-import' })
  const redis = config.REDIS_URL ? new RedisConnection(redisSettings(config), log) : undefined
  const tags = redis && new RedisStore(redis.client, redis.batch, config.REDIS_KEY_PREFIX)
  try {
    const client = await pool.connect()
    await migrate(client).finally(() => client.release())
    const deps: imports.ImportDeps = {
      db: createDatabase(pool),
      defaultCurrency: config.DEFAULT_CURRENCY,
      onCommitted: async (ids) => {
        await tags?.bump(['products', ...ids.map((id) => `product:${id}`)]).catch((err: Error) => {
          log.warn(
            { err: err.message },
            'cache invalidation failed: API instances may serve cached reads until their TTL'
          )
        })
      },
      onProgress: (p) => process.stderr.write(`\r${line(p)}`)
    }
    const dryRun = values['dry-run'] ?? false
    const row = await imports.startImport(deps, {
      format: format ?? (syntax === 'ndjson' ? 'ndjson' : 'csv'),
      dryRun,
      apiKeyId: null
    })
    try {
      const done = await imports.runImport(
        deps,
        row.id,
        { body: counted(), syntax, maxBytes: Number.MAX_SAFE_INTEGER },
        { dryRun, format, currency: values.currency },
        systemContext('import')
      )
      return rowToImport(done)
    } catch (err) {
      fail(`\nimport ${row.id} failed: ${(err as Error).message}`)
    }
  } finally {
    await redis?.close()
    await pool.end()
  }
})

const seconds = (Date.now() - started) / 1000
process.stderr.write(`\r${line({ ...result.counts, rows: result.rows, variants: result.variants })}\n`)
process.stdout.write(
  `import ${result.id} ${result.status}${result.dryRun ? ' (dry run: nothing written)' : ''}: ${result.rows} rows, ` +
    `${result.variants} variants in ${seconds.toFixed(1)} s (${Math.round(result.variants / seconds)} variants/s); ` +
    `created ${result.counts.created}, updated ${result.counts.updated}, unchanged ${result.counts.unchanged}, ` +
    `failed ${result.counts.failed}; ${result.errorCount} errors\n`
)
for (const e of result.errors.slice(0, 20)) {
  process.stdout.write(`  line ${e.line}${e.field ? ` ${e.field}` : ''}: ${e.code} ${e.message}\n`)
}
if (result.errorCount > 20)
  process.stdout.write(`  … ${result.errorCount - 20} more (GET /api/v1/imports/${result.id})\n`)
