// withTransaction against the real PostgreSQL: BEGIN travels with the first statement, whose parameters are
// inlined as literals; values must reach the database exactly as parameters would, and failures roll back.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import pg from 'pg'
import { escapeLiteral, inlineParameters } from '../../src/db/inline.js'
import { beforeCommit, withTransaction } from '../../src/db/pool.js'
import { createTestDatabase, defer } from '../helper.js'

async function poolOn(t: Parameters<typeof createTestDatabase>[0]) {
  const pool = new pg.Pool({ ...(await createTestDatabase(t, { empty: true })), max: 2 })
  defer(t, () => pool.end())
  // Every query text a client is sent, in order.
  const sent: string[] = []
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown
    ;(client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      if (typeof args[0] === 'string') sent.push(args[0])
      return query(...args)
    }
  })
  await pool.query(
    `CREATE TABLE t (id serial PRIMARY KEY, s text, n integer, b boolean, a text[], j jsonb, at timestamptz,
       u text UNIQUE)`
  )
  return { pool, sent }
}

const awkward = [
  "it's",
  'back\\slash \\x41',
  "E'\\047 quoted",
  '$1 and $$ dollars $$',
  'ünïcödé ✓ 😀',
  'line\nbreak\ttab',
  ''
]

test('when a transaction starts, then its BEGIN goes with its first statement: one round trip fewer, same values as parameters', async (t) => {
  const { pool, sent } = await poolOn(t)
  const at = new Date('2026-01-02T03:04:05.678Z')
  for (const s of awkward) {
    const values = [s, -42, true, [s, 'x,y', '"q"', null], JSON.stringify({ s, n: [1, 2] }), at]
    sent.length = 0
    const row = await withTransaction(pool, async (tx) => {
      const { rows } = await tx.query<{ id: number }>(
        'INSERT INTO t (s, n, b, a, j, at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id',
        values
      )
      return rows[0]
    })
    assert.ok(row, 'the first statement returned its row')
    assert.equal(sent.length, 2, `BEGIN with the insert, then COMMIT: ${JSON.stringify(sent)}`)
    assert.match(sent[0] ?? '', /^BEGIN;\n/)
    const { rows } = await pool.query(
      'SELECT s, n, b, a, j, at FROM t WHERE id = $1 AND s = $2 AND a = $3 AND j = $4::jsonb AND at = $5',
      [row.id, s, values[3], values[4], at]
    )
    assert.equal(rows.length, 1, `the inlined values equal the same values sent as parameters: ${JSON.stringify(s)}`)
    assert.deepEqual(rows[0].a, values[3])
  }
})

test('when the first statement fails, then nothing of the transaction stays, and the connection is usable again', async (t) => {
  const { pool } = await poolOn(t)
  await pool.query("INSERT INTO t (u) VALUES ('taken')")
  await assert.rejects(
    withTransaction(pool, async (tx) => {
      await tx.query('INSERT INTO t (u) VALUES ($1)', ['taken'])
    }),
    (err: { code?: string }) => err.code === '23505'
  )
  await assert.rejects(
    withTransaction(pool, async (tx) => {
      await tx.query('INSERT INTO t (u) VALUES ($1)', ['first'])
      await tx.query('INSERT INTO t (u) VALUES ($1)', ['taken'])
    }),
    (err: { code?: string }) => err.code === '23505'
  )
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM t')
  assert.equal(rows[0]?.n, 1, 'only the row inserted before the transactions')
  // Both clients are back in the pool and not left inside a transaction.
  for (let i = 0; i < 2; i++) {
    const { rows: state } = await pool.query<{ s: string }>("SELECT current_setting('transaction_isolation') AS s")
    assert.ok(state[0])
  }
})

test('when a value cannot go in as text (bytea, a NUL), then BEGIN is sent alone and the statement keeps its parameters', async (t) => {
  assert.equal(inlineParameters('SELECT $1', [Buffer.from([0, 1])]), undefined)
  assert.equal(inlineParameters('SELECT $1', ['a\0b']), undefined)
  assert.equal(inlineParameters('SELECT $2', ['only one']), undefined)
  assert.equal(inlineParameters('SELECT $1, $10', ['a', 2, 3, 4, 5, 6, 7, 8, 9, null]), "SELECT 'a', NULL")
  const { pool } = await poolOn(t)
  await assert.rejects(
    withTransaction(pool, async (tx) => {
      await tx.query('INSERT INTO t (s) VALUES ($1)', ['nul\0inside'])
    }),
    /0x00|invalid byte sequence/
  )
  const id = await withTransaction(pool, async (tx) => {
    const { rows } = await tx.query<{ id: number }>('INSERT INTO t (s) VALUES (encode($1, $2)) RETURNING id', [
      Buffer.from('hi'),
      'escape'
    ])
    return rows[0]?.id
  })
  const { rows } = await pool.query('SELECT s FROM t WHERE id = $1', [id])
  assert.equal(rows[0]?.s, 'hi')
})

test('when a transaction only queues statements for its commit, then they commit in one round trip', async (t) => {
  const { pool } = await poolOn(t)
  let lsn: string | undefined
  await withTransaction(
    pool,
    async (tx) => {
      beforeCommit(tx, "INSERT INTO t (s) VALUES ('tail only')")
    },
    (committed) => {
      lsn = committed
    }
  )
  const { rows } = await pool.query("SELECT count(*)::int AS n FROM t WHERE s = 'tail only'")
  assert.equal(rows[0]?.n, 1)
  assert.match(lsn ?? '', /^[0-9A-F]+\/[0-9A-F]+$/)
})

test('when strings of quotes, backslashes and any other characters are escaped, then the literal is node-postgres’ escapeLiteral’s, character for character', () => {
  const alphabet = ["'", '\\', 'a', 'E', ' ', '"', '\n', '$', 'é', '😀', '\u2028', "''", '\\\\']
  let state = 20261206
  const next = () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31)
  const strings = [...awkward, "'", '\\', "\\'", ' E', JSON.stringify({ name: "it's \\ here", tags: ['a'] })]
  for (let i = 0; i < 3000; i++) {
    let s = ''
    for (let n = next() % 12; n > 0; n--) s += alphabet[next() % alphabet.length]
    strings.push(s)
  }
  for (const s of strings) assert.equal(escapeLiteral(s), pg.escapeLiteral(s), JSON.stringify(s))
})
