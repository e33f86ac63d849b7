import { StringDecoder } from 'node:string_decoder'

/**
 * CSV records (RFC 4180) from a byte stream, for the import: fields separated by commas, records by LF or CRLF (or
 * by a lone CR in a file whose first line ends so, as old Mac files do; elsewhere a lone CR is part of its field, as
 * csv-parse reads it); a field in double quotes may hold commas, quotes (doubled) and line breaks. A UTF-8 byte order
 * mark is dropped; empty lines are skipped; records may have any number of fields.
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

/**
 * A record read from `text` at `start`, or why it could not be: `end` is where the next record starts, `breaks`
 * the line breaks from `start` to `end` (inside quoted fields too), `closed` whether a line break ended it.
 */
type Parsed = ({ values: string[] } | { error: string }) & { end: number; breaks: number; closed: boolean }

/**
 * Past the line break at `i` (an LF or a CR): 0 when that CR is part of a field, -1 when the text ends at that CR and
 * the next text decides (an LF may follow).
 */
function breakEnd(text: string, i: number, final: boolean, crBreaks: boolean): number {
  if (text.charCodeAt(i) === LF) return i + 1
  if (i + 1 >= text.length) return final ? (crBreaks ? i + 1 : 0) : -1
  if (text.charCodeAt(i + 1) === LF) return i + 2
  return crBreaks ? i + 1 : 0
}

/** Line breaks in text[from, to). */
function breaksIn(text: string, from: number, to: number, crBreaks: boolean): number {
  let n = 0
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i)
    if (c === LF || (crBreaks && c === CR && text.charCodeAt(i + 1) !== LF)) n++
  }
  return n
}

/**
 * `error` for the record, which ends where the line holding `from` ends (past its line break): null when that
 * line goes on past the text and more may come.
 */
function skipLine(
  text: string,
  from: number,
  error: string,
  breaksBefore: number,
  final: boolean,
  crBreaks: boolean
): Parsed | null {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c !== LF && c !== CR) continue
    const end = breakEnd(text, i, final, crBreaks)
    if (end === -1) return null
    if (end > 0) return { error, end, breaks: breaksBefore + 1, closed: true }
  }
  return final ? { error, end: text.length, breaks: breaksBefore, closed: false } : null
}

/** The record at `start`, or null when the text ends before it does and more may come (`final` false). */
function parseRecord(text: string, start: number, final: boolean, crBreaks: boolean): Parsed | null {
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
            breaks: breaks + breaksIn(text, at, length, crBreaks),
            // A line break at the very end ends the file's last line, not a line of its own.
            closed: breakEnd(text, length - 1, true, crBreaks) === length
          }
        }
        breaks += breaksIn(text, at, quote, crBreaks)
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
      if (i >= length) return { values, end: i, breaks, closed: false }
      const c = text.charCodeAt(i)
      if (c === COMMA) {
        i++
        continue
      }
      if (c === LF || c === CR) {
        const end = breakEnd(text, i, final, crBreaks)
        if (end === -1) return null
        if (end > 0) return { values, end, breaks: breaks + 1, closed: true }
      }
      return skipLine(text, i, `field ${field}: text after its closing quote`, breaks, final, crBreaks)
    }
    let j = i
    for (; j < length; j++) {
      const c = text.charCodeAt(j)
      if (c === COMMA) break
      if (c === LF || c === CR) {
        const end = breakEnd(text, j, final, crBreaks)
        if (end === -1) return null
        if (end === 0) continue
        values.push(text.slice(i, j))
        return { values, end, breaks: breaks + 1, closed: true }
      }
      if (c === QUOTE) {
        const error = `field ${field}: a quote inside a field that does not start with one`
        return skipLine(text, j, error, breaks, final, crBreaks)
      }
    }
    if (j >= length && !final) return null
    values.push(text.slice(i, j))
    if (j >= length) return { values, end: j, breaks, closed: false }
    i = j + 1
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
function skipRecord(text: string, from: number, skip: Skip, final: boolean, crBreaks: boolean): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === QUOTE) skip.inQuote = !skip.inQuote
    else if (c === LF || c === CR) {
      const end = breakEnd(text, i, final, crBreaks)
      if (end === -1) return -2
      if (end === 0) continue
      skip.breaks++
      if (!skip.inQuote) return end
      i = end - 1
    }
  }
  return -1
}

/**
 * Whether a lone CR ends lines: it does when the text's first line break outside quotes is one. Null while the text
 * has no such line break yet (or ends in a CR whose LF may follow) and more may come.
 */
function crBreaksOf(text: string, final: boolean, maxRecordChars: number): boolean | null {
  let inQuote = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === QUOTE) inQuote = !inQuote
    else if (inQuote) continue
    else if (c === LF) return false
    else if (c === CR) {
      if (i + 1 < text.length) return text.charCodeAt(i + 1) !== LF
      return final ? true : null
    }
  }
  return final || text.length > maxRecordChars ? false : null
}

/** The records of `source`, in arrays; a record longer than `maxRecordChars` is an error of its own. */
export async function* csvRecords(source: AsyncIterable<Buffer>, maxRecordChars: number): AsyncGenerator<CsvItem[]> {
  const decoder = new StringDecoder('utf8')
  const tooLong = `longer than ${maxRecordChars} characters`
  let text = ''
  let line = 1
  let atStart = true
  let crBreaks: boolean | null = null
  // After an incomplete record, the text is read again only once it has doubled: a long record costs linear time.
  let retryAt = 0
  // A record past the limit: dropped as it arrives, its error given once its end is found.
  let skipping: Skip | null = null

  const drain = (final: boolean): CsvItem[] => {
    const items: CsvItem[] = []
    crBreaks ??= crBreaksOf(text, final, maxRecordChars)
    if (crBreaks === null) {
      retryAt = text.length * 2
      return items
    }
    const cr = crBreaks
    let pos = 0
    for (;;) {
      if (skipping) {
        const end = skipRecord(text, pos, skipping, final, cr)
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
      const parsed = parseRecord(text, pos, final, cr)
      if (parsed === null) {
        if (text.length - pos <= maxRecordChars) break
        skipping = { line, breaks: 0, inQuote: false }
        continue
      }
      const lastLine = line + parsed.breaks - (parsed.closed ? 1 : 0)
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

  /** Adds decoded text, without the byte order mark the first character may be. */
  const append = (more: string) => {
    text += more
    if (atStart && text.length) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
      atStart = false
    }
  }

  for await (const chunk of source) {
    append(decoder.write(chunk))
    if (text.length < retryAt) continue
    const items = drain(false)
    if (items.length) yield items
  }
  append(decoder.end())
  const items = drain(true)
  if (items.length) yield items
}
