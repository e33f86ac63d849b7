import { AppError } from '../../errors.js'
import type { CsvLayout, CsvRow, Sources } from './csv-layout.js'
import { CellError } from './money.js'
import { csvRecords, isCsvError } from './csv-records.js'
import { ownCsv } from './own-csv.js'
import { shopifyCsv } from './shopify-csv.js'
import type { ImportError, ImportFormat } from './schemas.js'

/** One product read from the file, or why its line(s) could not be read. */
export interface ReadItem {
  line: number
  /** The last line this item was read from. */
  lastLine: number
  /** Records (CSV) or lines (NDJSON) read so far. */
  rows: number
  product?: unknown
  sources?: Sources
  errors?: ImportError[]
}

/** A line longer than this is an error of its own; the reader skips to the next line. */
const MAX_LINE_BYTES = 4 * 1024 * 1024
/** Rows of one product key (variants and images) a CSV group may have. */
const MAX_GROUP_ROWS = 500

const malformed = (line: number, message: string, field: string | null = null): ImportError => ({
  line,
  field,
  code: 'MALFORMED_LINE',
  message: message.slice(0, 500)
})

/** NDJSON: one product per line; blank lines are skipped; a line that is not a JSON object is that line's error. */
export async function* readNdjson(source: AsyncIterable<Buffer>): AsyncGenerator<ReadItem> {
  let line = 0
  let pending: Buffer[] = []
  let pendingBytes = 0
  let tooLong = false
  const item = (bytes: Buffer): ReadItem | undefined => {
    line++
    const text = bytes.toString('utf8').trim()
    if (text === '') return undefined
    try {
      const value: unknown = JSON.parse(text)
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        return { line, lastLine: line, rows: line, errors: [malformed(line, 'a line must be one JSON object')] }
      }
      return { line, lastLine: line, rows: line, product: value }
    } catch (err) {
      return { line, lastLine: line, rows: line, errors: [malformed(line, `not JSON: ${(err as Error).message}`)] }
    }
  }
  for await (const chunk of source) {
    let start = 0
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl)
      start = nl + 1
      if (tooLong) {
        line++
        tooLong = false
        pending = []
        pendingBytes = 0
        yield { line, lastLine: line, rows: line, errors: [malformed(line, `longer than ${MAX_LINE_BYTES} bytes`)] }
        continue
      }
      const bytes = pending.length ? Buffer.concat([...pending, piece]) : piece
      pending = []
      pendingBytes = 0
      const read = item(bytes)
      if (read) yield read
    }
    if (start < chunk.length && !tooLong) {
      pending.push(chunk.subarray(start))
      pendingBytes += chunk.length - start
      if (pendingBytes > MAX_LINE_BYTES) {
        tooLong = true
        pending = []
      }
    }
  }
  if (tooLong) {
    line++
    yield { line, lastLine: line, rows: line, errors: [malformed(line, `longer than ${MAX_LINE_BYTES} bytes`)] }
  } else if (pending.length) {
    const read = item(Buffer.concat(pending))
    if (read) yield read
  }
}

const badHeader = (reason: string) =>
  new AppError('BAD_REQUEST', `The CSV header line cannot be read: ${reason}`, [{ field: 'header', message: reason }])

export const missingColumn = (column: string) =>
  new AppError('MISSING_COLUMN', `The CSV header has no ${column} column`, [
    { field: column, message: 'required column' }
  ])

/** The layout a CSV header names: Shopify's when it has Handle, unless the format was given. */
export function layoutFor(header: string[], format: ImportFormat | undefined, currency: string): CsvLayout {
  const name = format ?? (header.includes('Handle') ? 'shopify-csv' : 'csv')
  const layout = name === 'shopify-csv' ? shopifyCsv(currency) : ownCsv
  for (const column of layout.required) if (!header.includes(column)) throw missingColumn(column)
  return layout
}

/**
 * CSV: rows of one product key (slug or Handle) are one product and must follow each other. A row the parser
 * cannot read is its line's error, and the product it belonged to is not imported (it would lose that row).
 * A header without a required column throws MISSING_COLUMN before any row is read.
 */
export async function* readCsv(
  source: AsyncIterable<Buffer>,
  options: { format?: ImportFormat; currency: string; onLayout?: (layout: CsvLayout) => void }
): AsyncGenerator<ReadItem> {
  let layout: CsvLayout | undefined
  let columns = new Map<string, number>()
  let keyColumn = -1
  const skipped: ImportError[] = []

  let group: CsvRow[] = []
  let key = ''
  let rows = 0
  const has = (column: string) => columns.has(column)
  const finish = function* (nextLine: number): Generator<ReadItem> {
    const before = skipped.filter((e) => e.line < nextLine)
    skipped.splice(0, before.length)
    if (!group.length) {
      for (const err of before) yield { line: err.line, lastLine: err.line, rows, errors: [err] }
      return
    }
    const first = group[0] as CsvRow
    const last = (group.at(-1) as CsvRow).lastLine
    const lost = before.filter((e) => e.line > first.line)
    for (const err of before.filter((e) => e.line < first.line))
      yield { line: err.line, lastLine: err.line, rows, errors: [err] }
    if (lost.length) {
      yield {
        line: first.line,
        lastLine: last,
        rows,
        errors: [
          ...lost,
          malformed(first.line, `${key}: a row of this product is malformed; the product is not imported`, layout?.key)
        ]
      }
    } else if (group.length > MAX_GROUP_ROWS) {
      yield {
        line: first.line,
        lastLine: last,
        rows,
        errors: [malformed(first.line, `${key}: more than ${MAX_GROUP_ROWS} rows`, layout?.key)]
      }
    } else {
      try {
        const { product, sources } = (layout as CsvLayout).toProduct(group, has)
        yield { line: first.line, lastLine: last, rows, product, sources }
      } catch (err) {
        if (!(err instanceof CellError)) throw err
        yield {
          line: first.line,
          lastLine: last,
          rows,
          errors: [{ line: first.line, field: err.column, code: 'VALIDATION_FAILED', message: err.message }]
        }
      }
    }
    group = []
  }

  for await (const records of csvRecords(source, MAX_LINE_BYTES)) {
    for (const record of records) {
      if (!layout) {
        if (isCsvError(record)) throw badHeader(record.error)
        const header = record.values.map((n) => n.trim())
        columns = new Map(header.map((name, i) => [name, i]))
        layout = layoutFor(header, options.format, options.currency)
        keyColumn = columns.get(layout.key) as number
        options.onLayout?.(layout)
        continue
      }
      rows++
      if (isCsvError(record)) {
        skipped.push(malformed(record.line, `line ${record.line}: ${record.error}`))
        continue
      }
      const { line, lastLine } = record
      const rowKey = record.values[keyColumn] ?? ''
      if (rowKey === '' && !group.length) {
        yield* finish(line)
        yield { line, lastLine, rows, errors: [malformed(line, `${layout.key} is empty`, layout.key)] }
        continue
      }
      if (rowKey !== '' && rowKey !== key) {
        yield* finish(line)
        key = rowKey
      }
      group.push({ line, lastLine, values: record.values, columns })
    }
  }
  yield* finish(Number.MAX_SAFE_INTEGER)
}
