import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parse } from 'csv-parse/sync'
import { stringify } from 'csv-stringify/sync'
import { csvRecords, isCsvError } from '../../src/modules/bulk/csv-records.js'
import { readCsv } from '../../src/modules/bulk/readers.js'

async function* chunks(text: string, size: number): AsyncGenerator<Buffer> {
  const bytes = Buffer.from(text)
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size)
}

/** Every record as "line-lastLine:values" or "line-lastLine!error", read in chunks of `size` bytes. */
async function read(text: string, size: number, max = 1000): Promise<string[]> {
  const out: string[] = []
  for await (const items of csvRecords(chunks(text, size), max)) {
    for (const item of items) {
      out.push(
        isCsvError(item)
          ? `${item.line}-${item.lastLine}!${item.error}`
          : `${item.line}-${item.lastLine}:${JSON.stringify(item.values)}`
      )
    }
  }
  return out
}

/** The same records whatever the chunk size: one byte at a time splits every field, line break and UTF-8 character. */
async function readAll(text: string, max?: number): Promise<string[]> {
  const whole = await read(text, 1 << 20, max)
  for (const size of [1, 2, 3, 7]) assert.deepEqual(await read(text, size, max), whole, `chunks of ${size} bytes`)
  return whole
}

test('when CSV has quoted fields with commas, doubled quotes and line breaks, then each record has its fields and its lines', async () => {
  const text = 'a,b,c\n"x, y","say ""hi""","two\nlines"\nplain,,""\n"é€😀",ü,"\r\n"\n'
  assert.deepEqual(await readAll(text), [
    '1-1:["a","b","c"]',
    '2-3:["x, y","say \\"hi\\"","two\\nlines"]',
    '4-4:["plain","",""]',
    '5-6:["é€😀","ü","\\r\\n"]'
  ])
})

test('when CSV has a byte order mark, CRLF or lone CR line breaks and empty lines, then the mark and the empty lines are dropped and line numbers count every line', async () => {
  assert.deepEqual(await readAll('\ufeffslug,sku\r\na,1\r\n\r\nb,2\r\n'), [
    '1-1:["slug","sku"]',
    '2-2:["a","1"]',
    '4-4:["b","2"]'
  ])
  assert.deepEqual(await readAll('slug,sku\ra,1\r\rb,2'), ['1-1:["slug","sku"]', '2-2:["a","1"]', '4-4:["b","2"]'])
  assert.deepEqual(await readAll('a\n\n\n'), ['1-1:["a"]'])
  // A lone CR ends lines only in a file whose first line ends with one; elsewhere it is part of its field.
  assert.deepEqual(await readAll('a,b\r\nx\ry,1\r\n"q\r",2'), [
    '1-1:["a","b"]',
    '2-2:["x\\ry","1"]',
    '3-3:["q\\r","2"]'
  ])
  assert.deepEqual(await readAll('"a\rb",c\nx,1\r'), ['1-1:["a\\rb","c"]', '2-2:["x","1\\r"]'])
  assert.deepEqual(await readAll('a,b\nshort\nx,y,extra\n'), [
    '1-1:["a","b"]',
    '2-2:["short"]',
    '3-3:["x","y","extra"]'
  ])
})

test('when a CSV line is malformed, then it is that line’s error and reading goes on at the next line', async () => {
  assert.deepEqual(await readAll('a,b\nx,y"z\nok,1\n"x"y,1\r\nok,2\n'), [
    '1-1:["a","b"]',
    '2-2!field 2: a quote inside a field that does not start with one',
    '3-3:["ok","1"]',
    '4-4!field 1: text after its closing quote',
    '5-5:["ok","2"]'
  ])
  // A quote never closed runs to the end: it is the error of the line it opened on.
  assert.deepEqual(await readAll('a,b\nok,1\n"x,1\nmore,2\n'), [
    '1-1:["a","b"]',
    '2-2:["ok","1"]',
    '3-4!field 1: a quoted field is not closed'
  ])
})

test('when a CSV record is longer than the limit, then it is its line’s error and the next line is read', async () => {
  const long = 'x'.repeat(40)
  assert.deepEqual(await readAll(`a,b\n${long},1\nok,2\n"${long}\n${long}",3\r\nok,4\n${long}`, 30), [
    '1-1:["a","b"]',
    '2-2!longer than 30 characters',
    '3-3:["ok","2"]',
    '4-5!longer than 30 characters',
    '6-6:["ok","4"]',
    '7-7!longer than 30 characters'
  ])
})

test('when well-formed CSV is read, then the records are csv-parse’s, field for field', async () => {
  const rows: string[] = ['Handle,Title,Body (HTML),Tags,Variant Price']
  for (let i = 0; i < 200; i++) {
    rows.push(
      `tee-${i},"Tee, ${i}","<p class=""x"">Soft\n${'é'.repeat(i % 5)}</p>",${i % 3 ? '"a, b"' : ''},${(i / 7).toFixed(2)}`
    )
  }
  const text = rows.join('\r\n')
  const records: string[][] = parse(text, { relax_column_count: true, skip_empty_lines: true })
  const expected = records.map((r) => JSON.stringify(r))
  const got = (await readAll(text)).map((r) => r.slice(r.indexOf(':') + 1))
  assert.equal(got.length, 201)
  assert.deepEqual(got, expected)
})

test('when random records are written as CSV (csv-stringify) and read in random chunks, then each comes back with its line', async () => {
  // A fixed seed: the same files every run, and a failure names the file it failed on.
  let state = 20261205
  const random = (n: number) => {
    state = (state * 1103515245 + 12345) % 2147483648
    return state % n
  }
  const pieces = ['a', 'Z', '0', ' ', ',', '"', '""', '\n', '\r\n', '\r', 'é', '€', '😀', ';', '\t', "'"]
  for (let file = 0; file < 200; file++) {
    const records: string[][] = Array.from({ length: 1 + random(20) }, () =>
      Array.from({ length: 1 + random(6) }, () =>
        Array.from({ length: random(6) }, () => pieces[random(pieces.length)]).join('')
      )
    )
    // A record of one empty field is an empty line, which the reader skips by design.
    for (const record of records) if (record.length === 1 && record[0] === '') record[0] = 'x'
    const eol = random(2) ? '\n' : '\r\n'
    const options = { record_delimiter: eol === '\n' ? 'unix' : 'windows', quoted_match: '\r' } as const
    const text = stringify(records, options)
    const items: { line: number; values: string[] }[] = []
    const size = 1 + random(64)
    for await (const batch of csvRecords(chunks(text, size), 1000)) {
      for (const item of batch) {
        assert.ok(!isCsvError(item), `file ${file}: ${JSON.stringify(item)}`)
        items.push({ line: item.line, values: item.values })
      }
    }
    assert.deepEqual(
      items.map((i) => i.values),
      records,
      `file ${file} in chunks of ${size}`
    )
    // Each record starts on the line after the previous record's breaks (quoted ones included).
    let line = 1
    items.forEach((item, i) => {
      assert.equal(item.line, line, `file ${file}, record ${i}`)
      line += stringify([records[i]], options).split(/\r?\n/).length - 1
    })
  }
})

test('when a product’s rows hold quoted line breaks, then its item runs from its first row’s line to its last row’s last line', async () => {
  const text = [
    'slug,name,sku,prices,description',
    'tee-a,Tee A,A-1,USD 1.00,"two',
    'lines"',
    'tee-a,,A-2,USD 2.00,"three',
    '',
    'lines"',
    'tee-b,Tee B,B-1,USD 3.00,plain'
  ].join('\n')
  const items: [number, number][] = []
  for await (const item of readCsv(chunks(text, 5), { currency: 'USD' })) {
    assert.equal(item.errors, undefined, JSON.stringify(item.errors))
    items.push([item.line, item.lastLine])
  }
  assert.deepEqual(items, [
    [2, 6],
    [7, 7]
  ])
})
