import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import { parseTimestamptz } from '../../src/db/timestamps.js'
import { connect, createTestDatabase } from '../helper.js'

// node-postgres' own parser, which every timestamptz went through before.
const general = createRequire(import.meta.url)('postgres-date') as (text: string) => Date | number | null
const same = (text: string) => {
  const want = general(text)
  const got = parseTimestamptz(text)
  assert.equal(
    got instanceof Date ? got.getTime() : got,
    want instanceof Date ? want.getTime() : want,
    `${text}: ${String(got)} vs ${String(want)}`
  )
}

test('when a timestamptz has the UTC millisecond form, then it reads the same instant as the general parser, for every fraction', () => {
  for (const width of [1, 2, 3])
    for (let i = 0; i < 10 ** width; i++) same(`2025-03-09 23:59:58.${String(i).padStart(width, '0')}+00`)
  for (const text of [
    '2025-01-01 00:00:00+00',
    '1999-12-31 23:59:59+00',
    '2024-02-29 12:00:00.5+00',
    '9999-12-31 23:59:59.999+00'
  ])
    same(text)
})

test('when a timestamptz has any other form, then the general parser reads it', () => {
  for (const text of [
    '2025-01-01 02:46:39.123456+00',
    '2025-01-01 02:46:39.1234+00',
    '2025-01-01 03:46:39.123+01',
    '2025-01-01 02:46:39.123+05:30',
    '2025-01-01 02:46:39-08',
    '0099-01-01 00:00:00+00',
    '0001-01-01 00:00:00+00 BC',
    '12025-01-01 00:00:00+00',
    'infinity',
    '-infinity',
    '2025-0a-01 00:00:00+00'
  ])
    same(text)
})

test('when PostgreSQL writes timestamptz values in UTC and in another time zone, then each reads as the instant it stored', async (t) => {
  const db = await connect(t, await createTestDatabase(t))
  const sql = `SELECT v::text AS text, (extract(epoch FROM v) * 1000)::float8 AS ms FROM (VALUES
      ('2025-01-01 02:46:39.123+00'::timestamptz), ('2025-06-30 23:59:59.9+00'), ('2025-06-30 23:59:59+00'),
      ('2024-02-29 12:00:00.05+00'), ('2025-01-01 02:46:39.123456+00'), ('1970-01-01 00:00:00+00')) AS x (v)`
  for (const zone of ['UTC', 'Europe/Berlin', 'America/St_Johns']) {
    await db.query(`SET TimeZone = '${zone}'`)
    const { rows } = await db.query<{ text: string; ms: number }>(sql)
    for (const row of rows) {
      // Microseconds are cut to milliseconds, as the general parser does.
      assert.equal(parseTimestamptz(row.text).getTime(), Math.floor(row.ms), `${zone}: ${row.text}`)
      same(row.text)
    }
  }
})
