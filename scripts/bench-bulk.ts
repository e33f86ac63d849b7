// npm run bench:bulk [-- --variants N --format ndjson|csv|shopify-csv --no-export]
//
// Bulk import and export at scale, each in a child process whose RSS is sampled every 100 ms: a generated file of N
// variant rows (4 variants per product, two prices, one image) is imported with `npm run import`'s code into a new
// database, imported again (every product unchanged), then exported in each format to nowhere. Prints rows per
// second and peak RSS per step (--no-export: the imports only); the database is dropped at the end. DB_HOST/DB_PORT/DB_USER name the server.
import { execFileSync, spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { loadConfig } from '../src/config.js'
import { projectRoot } from '../src/lib/project-root.js'
import { createDatabase } from '../src/db/database.js'
import { createPool } from '../src/db/pool.js'
import { exportProducts } from '../src/modules/bulk/export.js'
import type { ExportFormat } from '../src/modules/bulk/schemas.js'

const { values } = parseArgs({
  options: {
    variants: { type: 'string', default: '100000' },
    format: { type: 'string', default: 'ndjson' },
    'no-export': { type: 'boolean', default: false },
    child: { type: 'string' }
  }
})
const env = {
  DB_HOST: process.env.DB_HOST ?? '127.0.0.1',
  DB_PORT: process.env.DB_PORT ?? '5432',
  DB_USER: process.env.DB_USER ?? 'postgres',
  DB_PASSWORD: process.env.DB_PASSWORD ?? ''
}

/** Child mode: export the database in `format` to nowhere, printing the product count. */
async function exportChild(database: string, format: ExportFormat) {
  const config = loadConfig({ ...process.env, ...env, DB_NAME: database })
  const pool = createPool(
    config,
    { host: env.DB_HOST, port: Number(env.DB_PORT), user: env.DB_USER, password: env.DB_PASSWORD, database },
    {
      max: 2,
      name: 'export',
      log: { warn() {} }
    }
  )
  const started = process.hrtime.bigint()
  const sink = new Writable({
    write(_chunk, _enc, done) {
      done()
    }
  })
  await pipeline(
    exportProducts({ db: createDatabase(pool), defaultCurrency: 'USD' }, { format, includeDescendants: false }),
    sink
  )
  await pool.end()
  process.stdout.write(`in ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(2)} s\n`)
}

if (values.child) {
  const [database, format] = values.child.split(':') as [string, ExportFormat]
  await exportChild(database, format)
  process.exit(0)
}

const variants = Number(values.variants)
const format = values.format as 'ndjson' | 'csv' | 'shopify-csv'
const products = Math.ceil(variants / 4)
const database = `catalog_bench_bulk_${process.pid}`
const file = join(tmpdir(), `${database}.${format === 'ndjson' ? 'ndjson' : 'csv'}`)
const admin = new pg.Client({
  host: env.DB_HOST,
  port: Number(env.DB_PORT),
  user: env.DB_USER,
  password: env.DB_PASSWORD,
  database: 'postgres'
})

async function writeFile() {
  const out = createWriteStream(file)
  if (format === 'csv')
    out.write(
      'slug,name,description,status,tags,option1Name,option1Value,sku,prices,stock,weightGrams,imageUrl,imageAlt\n'
    )
  if (format === 'shopify-csv')
    out.write(
      'Handle,Title,Body (HTML),Vendor,Tags,Option1 Name,Option1 Value,Variant SKU,Variant Grams,' +
        'Variant Inventory Qty,Variant Price,Variant Compare At Price,Image Src,Image Alt Text,Status\n'
    )
  for (let p = 0; p < products; p++) {
    const sizes = ['S', 'M', 'L', 'XL']
    const chunk =
      format === 'ndjson'
        ? `${JSON.stringify({
            name: `Bench tee ${p}`,
            slug: `bench-tee-${p}`,
            description: 'Heavyweight organic cotton, black.',
            status: 'active',
            tags: ['cotton', 'bench'],
            options: [{ name: 'Size', values: sizes }],
            variants: sizes.map((s, i) => ({
              sku: `BT-${p}-${s}`,
              optionValues: [s],
              prices: [
                { currency: 'USD', amountCents: 1999 + i * 100 },
                { currency: 'EUR', amountCents: 1899 + i * 100 }
              ],
              stock: (p + i) % 50,
              weightGrams: 180
            })),
            media: [{ url: `https://cdn.example.com/bench/${p}.jpg`, alt: 'Front' }]
          })}\n`
        : format === 'shopify-csv'
          ? sizes
              .map(
                (s, i) =>
                  `bench-tee-${p},${i ? '' : `Bench tee ${p}`},${i ? '' : '<p>Heavyweight organic cotton</p>'},${i ? '' : 'Bench'},${i ? '' : '"cotton, bench"'},${i ? '' : 'Size'},${s},BT-${p}-${s},180,${(p + i) % 50},${(19.99 + i).toFixed(2)},${i ? '' : '24.99'},${i ? '' : `https://cdn.example.com/bench/${p}.jpg`},${i ? '' : 'Front'},${i ? '' : 'active'}\n`
              )
              .join('')
          : sizes
              .map(
                (s, i) =>
                  `bench-tee-${p},${i ? '' : `Bench tee ${p}`},${i ? '' : 'Heavyweight organic cotton'},${i ? '' : 'active'},${i ? '' : '"cotton, bench"'},${i ? '' : 'Size'},${s},BT-${p}-${s},"USD ${(19.99 + i).toFixed(2)}; EUR ${(18.99 + i).toFixed(2)}",${(p + i) % 50},180,${i ? '' : `https://cdn.example.com/bench/${p}.jpg`},${i ? '' : 'Front'}\n`
              )
              .join('')
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()))
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())))
}

/** Runs a child, sampling its RSS from /proc every 100 ms; resolves with its output, seconds and peak RSS (MB). */
function measured(args: string[], extraEnv: NodeJS.ProcessEnv) {
  return new Promise<{ out: string; seconds: number; peakMb: number }>((resolve, reject) => {
    const started = process.hrtime.bigint()
    const child = spawn(process.execPath, args, {
      env: { ...process.env, ...env, ...extraEnv },
      stdio: ['ignore', 'pipe', 'ignore']
    })
    let out = ''
    let peak = 0
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    const timer = setInterval(() => {
      readFile(`/proc/${child.pid}/status`, 'utf8')
        .then((s) => {
          const kb = Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0)
          if (kb > peak) peak = kb
        })
        .catch(() => {})
    }, 100)
    child.on('error', reject)
    child.on('exit', (code) => {
      clearInterval(timer)
      if (code !== 0) reject(new Error(`${args.join(' ')} exited with ${code}: ${out}`))
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      // The time the work took inside the child (its own figure), without the process start.
      const inside = Number(/in ([\d.]+) s/.exec(out)?.[1] ?? seconds)
      resolve({ out, seconds: inside, peakMb: Math.round(peak / 1024) })
    })
  })
}

// The compiled scripts, as production runs them (tsx would add its own memory to every figure).
const dist = join(projectRoot(), 'dist', 'scripts')
execFileSync('npm', ['run', '-s', 'build'], { stdio: 'inherit' })
await admin.connect()
await admin.query(`CREATE DATABASE ${database}`)
try {
  await writeFile()
  const importEnv = { DB_NAME: database, REDIS_URL: '', LOG_LEVEL: 'warn' }
  const rows: string[] = []
  for (const round of ['import (new catalog)', 'import again (unchanged)']) {
    // As `npm run import` runs it (package.json): V8's heap capped, or it grows into the slack it is allowed.
    const run = await measured(
      [
        '--max-old-space-size=128',
        '--initial-old-space-size=64',
        join(dist, 'import.js'),
        file,
        ...(format === 'ndjson' ? [] : ['--format', format])
      ],
      importEnv
    )
    rows.push(
      `${round.padEnd(28)} ${variants} variant rows  ${run.seconds.toFixed(1).padStart(6)} s  ` +
        `${Math.round(variants / run.seconds)
          .toString()
          .padStart(7)} rows/s  peak RSS ${run.peakMb} MB`
    )
    process.stderr.write(`${rows.at(-1)}\n${run.out}`)
  }
  for (const exportFormat of values['no-export'] ? [] : ['ndjson', 'csv', 'shopify-csv']) {
    const run = await measured([join(dist, 'bench-bulk.js'), '--child', `${database}:${exportFormat}`], {
      DB_NAME: database
    })
    rows.push(
      `${`export ${exportFormat}`.padEnd(28)} ${products} products  ${run.seconds.toFixed(1).padStart(6)} s  ` +
        `${Math.round(products / run.seconds)
          .toString()
          .padStart(7)} products/s (${Math.round(variants / run.seconds)} variant rows/s)  peak RSS ${run.peakMb} MB`
    )
    process.stderr.write(`${rows.at(-1)}\n`)
  }
  process.stdout.write(
    `\nbulk import/export, ${format} file of ${variants} variant rows (${products} products)\n${rows.join('\n')}\n`
  )
} finally {
  await rm(file, { force: true })
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
  await admin.end()
}
