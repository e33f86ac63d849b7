import pg from 'pg'

/** node-postgres' own timestamptz parser (postgres-date): any form, by regular expressions. */
const general = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ) as (text: string) => Date

const digit = (text: string, i: number) => text.charCodeAt(i) - 48
/** The decimal number of text[from, to), or -1 if a character is not a digit. */
function digits(text: string, from: number, to: number): number {
  let n = 0
  for (let i = from; i < to; i++) {
    const d = digit(text, i)
    if (d < 0 || d > 9) return -1
    n = n * 10 + d
  }
  return n
}

/**
 * A timestamptz as PostgreSQL writes it in UTC with at most millisecond precision (`2025-01-01 02:46:39.123+00`, the
 * form of every `timestamp(3) with time zone` column here), read by position; any other form (another offset,
 * microseconds, a year before 1000, BC, infinity) goes to node-postgres' own parser, whose Date it gives for these too
 * (`test/db/timestamps.test.ts` compares them). A list page parses one per row, and the general parser's regular
 * expressions were 4 % of a page's Node time.
 */
export function parseTimestamptz(text: string): Date {
  const n = text.length
  if (
    (n === 22 || (n >= 24 && n <= 26)) &&
    text.endsWith('+00') &&
    text.charCodeAt(4) === 45 &&
    text.charCodeAt(7) === 45 &&
    text.charCodeAt(10) === 32 &&
    text.charCodeAt(13) === 58 &&
    text.charCodeAt(16) === 58 &&
    (n === 22 || text.charCodeAt(19) === 46)
  ) {
    const year = digits(text, 0, 4)
    const month = digits(text, 5, 7)
    const day = digits(text, 8, 10)
    const hour = digits(text, 11, 13)
    const minute = digits(text, 14, 16)
    const second = digits(text, 17, 19)
    const fraction = n === 22 ? 0 : digits(text, 20, n - 3)
    if (year >= 1000 && month >= 1 && day >= 0 && hour >= 0 && minute >= 0 && second >= 0 && fraction >= 0) {
      const ms = n === 22 ? 0 : fraction * 10 ** (26 - n)
      return new Date(Date.UTC(year, month - 1, day, hour, minute, second, ms))
    }
  }
  return general(text)
}
