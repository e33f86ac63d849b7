import { StringDecoder } from 'node:string_decoder'

/**
 * CSV records (RFC 4180) from a byte stream, for the import: fields separated by commas, records by LF, CRLF or a
 * lone CR; a field in double quotes may hold commas, quotes (doubled) and line breaks. A UTF-8 byte order mark is
 * dropped; empty lines are skipped; records may have any number of fields.
 *
 * Each record carries the line it starts on and the line it ends on. A record that cannot be read (a quote inside
 * an unquoted field, text after a closing quote, a quote never closed, a record longer than the limit) is an error
 * of its own line, and reading goes on at the next line: one bad line never takes the rest of the file with it.
 *
 * Records come in arrays, one per chunk read, so that a large file costs one await per chunk, not one per record
 * (docs/architecture.md, bulk import: why the import reads CSV with a parser of its own).
 */
export interface CsvRecord {
  line: number
  lastLine: number
  values: string[]
}

export interface CsvRecordError {
  line: number
  lastLine: number
  error: string
}

export type CsvItem = CsvRecord | CsvRecordError

export const isCsvError = (item: CsvItem): item is CsvRecordError => 'error' in item

const COMMA = 44
const QUOTE = 34
const LF = 10
const CR = 13

/** A record read from `text` at `start`, or why it could not be: `end` is where the next record starts. */
type Parsed = { values: string[]; end: number; breaks: number } | { error: string; end: number; breaks: number }

/** Line breaks (LF, CRLF, lone CR) in text[from, to). */
function breaksIn(text: string, from: number, to: number): number {
  let n = 0
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i)
    if (c === LF) n++
    else if (c === CR && text.charCodeAt(i + 1) !== LF) n++
  }
  return n
}

/**
 * `error` for the record, which ends where the line holding `from` ends (past its line break): null when that
 * line goes on past the text and more may come.
 */
function skipLine(text: string, from: number, error: string, breaksBefore: number, final: boolean): Parsed | null {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === LF) return { error, end: i + 1, breaks: breaksBefore + 1 }
    if (c === CR) {
      if (i + 1 >= text.length && !final) return null
      return { error, end: text.charCodeAt(i + 1) === LF ? i + 2 : i + 1, breaks: breaksBefore + 1 }
    }
  }
  return final ? { error, end: text.length, breaks: breaksBefore } : null
}

/**
 * The record at `start`, or null when the text ends before it does and more may come (`final` false). `breaks`
 * counts the line breaks from `start` to `end`, those inside quoted fields included.
 */
function parseRecord(text: string, start: number, final: boolean): Parsed | null {
  const values: string[] = []
  const length = text.length
  let i = start
  let breaks = 0
  for (;;) {
    const field = values.length + 1
    if (i < length && text.charCodeAt(i) === QUOTE) {
      let value = ''
      let from = i + 1
      let at = from
      for (;;) {
        const quote = text.indexOf('"', at)
        if (quote === -1) {
          if (!final) return null
          return {
            error: `field ${field}: a quoted field is not closed`,
            end: length,
            breaks: breaks + breaksIn(text, at, length)
          }
        }
        breaks += breaksIn(text, at, quote)
        if (quote + 1 >= length && !final) return null
        if (text.charCodeAt(quote + 1) === QUOTE) {
          value += text.slice(from, quote + 1)
          at = from = quote + 2
          continue
        }
        value += text.slice(from, quote)
        i = quote + 1
        break
      }
      values.push(value)
      if (i >= length) return { values, end: i, breaks }
      const c = text.charCodeAt(i)
      if (c === COMMA) {
        i++
        continue
      }
      if (c === LF) return { values, end: i + 1, breaks: breaks + 1 }
      if (c === CR) {
        if (i + 1 >= length && !final) return null
        return { values, end: text.charCodeAt(i + 1) === LF ? i + 2 : i + 1, breaks: breaks + 1 }
      }
      return skipLine(text, i, `field ${field}: text after its closing quote`, breaks, final)
    }
    let j = i
    let c = 0
    for (; j < length; j++) {
      c = text.charCodeAt(j)
      if (c === COMMA || c === LF || c === CR) break
      if (c === QUOTE)
        return skipLine(text, j, `field ${field}: a quote inside a field that does not start with one`, breaks, final)
    }
    if (j >= length) {
      if (!final) return null
      values.push(text.slice(i, j))
      return { values, end: j, breaks }
    }
    values.push(text.slice(i, j))
    if (c === COMMA) {
      i = j + 1
      continue
    }
    if (c === LF) return { values, end: j + 1, breaks: breaks + 1 }
    if (j + 1 >= length && !final) return null
    return { values, end: text.charCodeAt(j + 1) === LF ? j + 2 : j + 1, breaks: breaks + 1 }
  }
}

/** An empty line: one field, empty, not quoted. */
const isEmptyLine = (text: string, start: number, parsed: { values: string[] }) =>
  parsed.values.length === 1 && parsed.values[0] === '' && text.charCodeAt(start) !== QUOTE

/** A record past the limit, read to its end without keeping it: where it started, the breaks crossed, the quoting. */
interface Skip {
  line: number
  breaks: number
  inQuote: boolean
}

/**
 * Where the skipped record ends (past its line break), reading `text` from `from` and carrying the quoting across
 * calls; -1 when it goes on past the text, -2 when the text ends in a CR whose LF may follow.
 */
function skipRecord(text: string, from: number, skip: Skip, final: boolean): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === QUOTE) skip.inQuote = !skip.inQuote
    else if (c === LF) {
      skip.breaks++
      if (!skip.inQuote) return i + 1
    } else if (c === CR) {
      if (i + 1 >= text.length && !final) return -2
      if (text.charCodeAt(i + 1) !== LF) {
        skip.breaks++
        if (!skip.inQuote) return i + 1
      }
    }
  }
  return -1
}

/** The records of `source`, in arrays; a record longer than `maxRecordChars` is an error of its own. */
export async function* csvRecords(source: AsyncIterable<Buffer>, maxRecordChars: number): AsyncGenerator<CsvItem[]> {
  const decoder = new StringDecoder('utf8')
  const tooLong = `longer than ${maxRecordChars} characters`
  let text = ''
  let line = 1
  let atStart = true
  // After an incomplete record, the text is read again only once it has doubled: a long record costs linear time.
  let retryAt = 0
  // A record past the limit: dropped as it arrives, its error given once its end is found.
  let skipping: Skip | null = null

  const drain = (final: boolean): CsvItem[] => {
    const items: CsvItem[] = []
    let pos = 0
    for (;;) {
      if (skipping) {
        const end = skipRecord(text, pos, skipping, final)
        if (end < 0 && !final) {
          text = end === -2 ? '\r' : ''
          retryAt = 0
          return items
        }
        const skipped: Skip = skipping
        skipping = null
        items.push({ line: skipped.line, lastLine: skipped.line + skipped.breaks - (end >= 0 ? 1 : 0), error: tooLong })
        line = skipped.line + skipped.breaks
        if (end < 0) {
          text = ''
          return items
        }
        pos = end
      }
      if (pos >= text.length) break
      const parsed = parseRecord(text, pos, final)
      if (parsed === null) {
        if (text.length - pos <= maxRecordChars) break
        skipping = { line, breaks: 0, inQuote: false }
        continue
      }
      const lastLine = line + Math.max(0, parsed.breaks - (endsWithBreak(text, parsed.end) ? 1 : 0))
      if ('error' in parsed) items.push({ line, lastLine, error: parsed.error })
      else if (parsed.end - pos > maxRecordChars) items.push({ line, lastLine, error: tooLong })
      else if (!isEmptyLine(text, pos, parsed)) items.push({ line, lastLine, values: parsed.values })
      line += parsed.breaks
      pos = parsed.end
    }
    text = pos < text.length ? text.slice(pos) : ''
    retryAt = text.length * 2
    return items
  }

  for await (const chunk of source) {
    text += decoder.write(chunk)
    if (atStart && text.length) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
      atStart = false
    }
    if (text.length < retryAt) continue
    const items = drain(false)
    if (items.length) yield items
  }
  text += decoder.end()
  if (atStart && text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  const items = drain(true)
  if (items.length) yield items
}

/** True when the record that ends at `end` ended with its line break (not with the text's end). */
function endsWithBreak(text: string, end: number): boolean {
  const c = text.charCodeAt(end - 1)
  return c === LF || c === CR
}
