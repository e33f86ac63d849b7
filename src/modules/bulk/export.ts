import { Readable } from 'node:stream'
import { stringify } from 'csv-stringify'
import type pg from 'pg'
import type { Database } from '../../db/database.js'
import { descendantIds } from '../categories/repository.js'
import * as products from '../products/repository.js'
import type { Product } from '../products/schemas.js'
import type { CsvLayout } from './csv-layout.js'
import { ownCsv } from './own-csv.js'
import { shopifyCsv } from './shopify-csv.js'
import type { ExportFormat, ExportQuery } from './schemas.js'

export interface ExportDeps {
  db: Database
  defaultCurrency: string
}

/** Rows fetched per round trip from the cursor. */
const FETCH_ROWS = 1000

export const CONTENT_TYPES: Record<ExportFormat, string> = {
  ndjson: 'application/x-ndjson; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  'shopify-csv': 'text/csv; charset=utf-8'
}

/**
 * The filtered products from a cursor in one REPEATABLE READ snapshot (on a replica when one may serve the
 * read), in id order, FETCH_ROWS at a time: memory holds one fetch whatever the catalog's size, and the stream
 * reads on only as fast as the client takes it. The connection is released when the stream ends or is destroyed.
 */
async function* productsInSnapshot(pool: pg.Pool, query: ExportQuery, currency: string): AsyncGenerator<Product> {
  const client = await pool.connect()
  let broken: Error | undefined
  let done = false
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
    let categoryIds: number[] | undefined
    if (query.categoryId !== undefined) {
      categoryIds = query.includeDescendants ? await descendantIds(client, query.categoryId) : [query.categoryId]
    }
    const filter = products.productFilter(query, { status: query.status, currency, categoryIds })
    const { select, where } = products.filteredProducts(filter, products.filterUsesPrices(filter))
    const conditions = where.clauses.length ? ` WHERE ${where.clauses.join(' AND ')}` : ''
    await client.query(`DECLARE product_export NO SCROLL CURSOR FOR ${select}${conditions} ORDER BY id`, where.values)
    for (;;) {
      const { rows } = await client.query<products.ProductRow>(`FETCH ${FETCH_ROWS} FROM product_export`)
      for (const row of rows) yield products.rowToProduct(row)
      if (rows.length < FETCH_ROWS) break
    }
    await client.query('COMMIT')
    done = true
  } catch (err) {
    broken = err as Error
    throw err
  } finally {
    // A stream destroyed mid-way (client gone) leaves the transaction open: that connection is not reused.
    client.release(done ? undefined : (broken ?? new Error('export stopped before its end')))
  }
}

function csvStream(source: AsyncGenerator<Product>, layout: CsvLayout): Readable {
  const rows = Readable.from(
    (async function* () {
      for await (const product of source) for (const row of layout.toRows(product)) yield row
    })()
  )
  const out = stringify({ header: true, columns: layout.columns })
  rows.on('error', (err) => out.destroy(err))
  out.on('close', () => rows.destroy())
  return rows.pipe(out)
}

/** The catalog as a stream of NDJSON lines or CSV rows. */
export function exportProducts({ db, defaultCurrency }: ExportDeps, query: ExportQuery): Readable {
  const currency = query.currency ?? defaultCurrency
  const source = productsInSnapshot(db.readerPool(), query, currency)
  if (query.format === 'ndjson') {
    return Readable.from(
      (async function* () {
        for await (const product of source) yield `${JSON.stringify(product)}\n`
      })()
    )
  }
  return csvStream(source, query.format === 'csv' ? ownCsv : shopifyCsv(currency))
}
