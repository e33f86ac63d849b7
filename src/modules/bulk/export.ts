import { PassThrough, Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { stringify } from 'csv-stringify'
import type pg from 'pg'
import { to as copyTo } from 'pg-copy-streams'
import type { Database } from '../../db/database.js'
import { inlineParameters } from '../../db/inline.js'
import { descendantIds } from '../categories/repository.js'
import * as products from '../products/repository.js'
import type { Product } from '../products/schemas.js'
import type { CsvLayout } from './csv-layout.js'
import { ownCsv } from './own-csv.js'
import { readNdjson } from './readers.js'
import { shopifyCsv } from './shopify-csv.js'
import type { ExportFormat, ExportQuery } from './schemas.js'

export interface ExportDeps {
  db: Database
  defaultCurrency: string
}

export const CONTENT_TYPES: Record<ExportFormat, string> = {
  ndjson: 'application/x-ndjson; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  'shopify-csv': 'text/csv; charset=utf-8'
}

const BEGIN_SNAPSHOT = 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY'

/** The list filters of an export as conditions on the relation `from` (named `products`). */
async function exportFilter(client: pg.PoolClient, query: ExportQuery, currency: string) {
  let categoryIds: number[] | undefined
  if (query.categoryId !== undefined) {
    categoryIds = query.includeDescendants ? await descendantIds(client, query.categoryId) : [query.categoryId]
  }
  const filter = products.productFilter(query, { status: query.status, currency, categoryIds })
  return { filter, priced: products.filterUsesPrices(filter) }
}

/** Node's longest timer (2^31 - 1 ms, ~24.8 days): longer ones fire at once. */
const NO_READ_TIMEOUT = 2 ** 31 - 1

/**
 * COPY … TO STDOUT as a stream. node-postgres times a query out after the pool's query_timeout, and pg-copy-streams
 * never completes the query for it, so that timer would fire during (or after) a long COPY: this COPY has no read
 * timeout of its own, and its query completes at ReadyForQuery or on its error (brianc/node-pg-copy-streams#156).
 */
function copyOut(text: string) {
  const copy = copyTo(text) as ReturnType<typeof copyTo> & {
    callback?: () => void
    query_timeout?: number
    handleError(err: Error): void
    handleReadyForQuery(): void
  }
  copy.query_timeout = NO_READ_TIMEOUT
  copy.callback = () => {}
  const handleError = copy.handleError.bind(copy)
  const handleReadyForQuery = copy.handleReadyForQuery.bind(copy)
  copy.handleError = (err) => {
    copy.callback?.()
    handleError(err)
  }
  copy.handleReadyForQuery = () => {
    copy.callback?.()
    handleReadyForQuery()
  }
  return copy
}

/**
 * The filtered products' documents as lines (product_documents, migration 010: the API's representation, byte for
 * byte), sent by one COPY in one REPEATABLE READ snapshot (on a replica when one may serve the read): node forwards
 * the bytes, reading only as fast as the client takes them. COPY takes no parameters, so the filter values go in as
 * escaped literals. A client gone mid-way closes the connection, which ends the COPY on the server.
 */
function documentLines(pool: pg.Pool, query: ExportQuery, currency: string): Readable {
  const out = new PassThrough()
  void (async () => {
    let client: pg.PoolClient | undefined
    let done = false
    try {
      client = await pool.connect()
      if (out.destroyed) {
        done = true // nothing began on the connection
        return
      }
      await client.query(BEGIN_SNAPSHOT)
      // One statement for the whole catalog: the pool's statement_timeout is for requests, not for an export.
      await client.query('SET LOCAL statement_timeout = 0')
      const { filter, priced } = await exportFilter(client, query, currency)
      const { from, where } = products.filteredFrom(filter, priced)
      const select = inlineParameters(products.documentLinesSql(from, where.clauses), where.values)
      if (select === undefined) throw new Error('an export filter value cannot be sent as text')
      // CSV with a quote and a delimiter no line holds (to_json escapes every control character): each line as it is.
      await pipeline(
        client.query(copyOut(`COPY (${select}) TO STDOUT WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')`)),
        out,
        { end: false }
      )
      await client.query('COMMIT')
      done = true
      out.end()
    } catch (err) {
      out.destroy(err as Error)
    } finally {
      // Unless committed, the connection is closed, not reused: a COPY may still be running on it.
      client?.release(done ? undefined : new Error('export stopped before its end'))
    }
  })()
  return out
}

/**
 * The products of document lines, each parsed as it completes (the import's NDJSON reader), so memory holds a chunk
 * of the COPY and the product being written, whatever the catalog's size. Ending early (the client gone) destroys the
 * lines' stream.
 */
async function* productsOf(lines: Readable): AsyncGenerator<Product> {
  for await (const item of readNdjson(lines)) {
    if (item.errors) throw new Error(`export line ${item.line}: ${item.errors[0]?.message}`)
    yield item.product as Product
  }
}

function csvStream(source: AsyncGenerator<Product>, layout: CsvLayout): Readable {
  const rows = Readable.from(
    (async function* () {
      for await (const product of source) for (const row of layout.toRows(product)) yield row
    })()
  )
  // A field with a CR is quoted too (csv-stringify quotes LF, quotes and commas only): RFC 4180 asks it, and readers
  // that end lines at a lone CR then keep the field whole.
  const out = stringify({ header: true, columns: layout.columns, quoted_match: '\r' })
  rows.on('error', (err) => out.destroy(err))
  out.on('close', () => rows.destroy())
  return rows.pipe(out)
}

/** The catalog as a stream of NDJSON lines or CSV rows. */
export function exportProducts({ db, defaultCurrency }: ExportDeps, query: ExportQuery): Readable {
  const currency = query.currency ?? defaultCurrency
  const lines = documentLines(db.readerPool(), query, currency)
  if (query.format === 'ndjson') return lines
  return csvStream(productsOf(lines), query.format === 'csv' ? ownCsv : shopifyCsv(currency))
}
