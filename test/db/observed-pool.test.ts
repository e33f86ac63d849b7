// ObservedPool against the real PostgreSQL: every way of querying is timed once, failures are told apart.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ObservedPool, type PoolObserver } from '../../src/db/observed-pool.js'
import { createTestDatabase, defer } from '../helper.js'

function recorder() {
  const seen = { acquired: [] as boolean[], queried: [] as [string, boolean][] }
  const observer: PoolObserver = {
    acquired: (seconds, failed) => {
      assert.ok(seconds >= 0)
      seen.acquired.push(failed)
    },
    queried: (text, seconds, failed) => {
      assert.ok(seconds >= 0)
      seen.queried.push([text, failed])
    }
  }
  return { seen, observer }
}

test('when queries run through the pool, a checked-out client or a callback, then each checkout and query is observed once', async (t) => {
  const { seen, observer } = recorder()
  const pool = new ObservedPool({ ...(await createTestDatabase(t)), max: 2 }, observer)
  defer(t, () => pool.end())

  await pool.query('SELECT 1')
  const client = await pool.connect()
  await client.query({ text: 'SELECT $1::int AS n', values: [2] })
  await new Promise<void>((resolve, reject) => client.query('SELECT 3', (err) => (err ? reject(err) : resolve())))
  await assert.rejects(client.query('SELECT * FROM no_such_table'), /no_such_table/)
  client.release()
  await new Promise<void>((resolve, reject) =>
    pool.connect((err, c, done) => {
      done()
      if (err || !c) reject(err ?? new Error('no client'))
      else resolve()
    })
  )

  assert.deepEqual(seen.acquired, [false, false, false], 'pool.query, connect() and connect(callback)')
  assert.deepEqual(seen.queried, [
    ['SELECT 1', false],
    ['SELECT $1::int AS n', false],
    ['SELECT 3', false],
    ['SELECT * FROM no_such_table', true]
  ])
})

test('when the database cannot be reached, then the failed checkout is observed as failed', async (t) => {
  const { seen, observer } = recorder()
  const pool = new ObservedPool(
    { host: '127.0.0.1', port: 1, user: 'u', database: 'd', connectionTimeoutMillis: 500 },
    observer
  )
  defer(t, () => pool.end())
  await assert.rejects(pool.connect())
  assert.deepEqual(seen.acquired, [true])
  assert.deepEqual(seen.queried, [])
})
