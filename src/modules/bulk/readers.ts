import { Readable } from 'node:stream'
import { parse } from 'csv-parse'
import { AppError } from '../../errors.js'
import type { CsvLayout, CsvRow, Sources } from './csv-layout.js'
import { CellError } from './money.js'
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
  let header: string[] = []
  const skipped: ImportError[] = []
  const parser = parse({
    bom: true,
    columns: (names: string[]) => {
      header = names.map((n) => n.trim())
      layout = layoutFor(header, options.format, options.currency)
      options.onLayout?.(layout)
      return header
    },
    info: true,
    relax_column_count: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    max_record_size: MAX_LINE_BYTES
  })
  parser.on('skip', (err: Error & { lines?: number }) => skipped.push(malformed(err.lines ?? 0, err.message)))
  const input = Readable.from(source)
  input.on('error', (err) => parser.destroy(err))
  input.pipe(parser)

  let group: CsvRow[] = []
  let key = ''
  let rows = 0
  let lastLine = 1 // the header
  const has = (column: string) => header.includes(column)
  const finish = function* (nextLine: number): Generator<ReadItem> {
    const before = skipped.filter((e) => e.line < nextLine)
    skipped.splice(0, before.length)
    if (!group.length) {
      for (const err of before) yield { line: err.line, lastLine: err.line, rows, errors: [err] }
      return
    }
    const first = group[0] as CsvRow
    const last = (group.at(-1) as CsvRow).line
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

  for await (const { record, info } of parser as AsyncIterable<{
    record: Record<string, string | undefined>
    info: { lines: number; records: number }
  }>) {
    rows = info.records
    const line = lastLine + 1
    lastLine = info.lines
    const rowKey = record[(layout as CsvLayout).key] ?? ''
    if (rowKey === '' && !group.length) {
      yield {
        line,
        lastLine: line,
        rows,
        errors: [malformed(line, `${(layout as CsvLayout).key} is empty`, (layout as CsvLayout).key)]
      }
      continue
    }
    if (rowKey !== '' && rowKey !== key) {
      yield* finish(line)
      key = rowKey
    }
    group.push({ line, cells: record })
  }
  yield* finish(Number.MAX_SAFE_INTEGER)
}
