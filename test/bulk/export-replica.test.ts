// Against a real streaming replica (test/pg-cluster.ts): the export reads its snapshot there.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { query, type StreamingPair, streamingPairForFile } from '../pg-cluster.js'
import { apiKey, bearer, build } from '../helper.js'

let pair: StreamingPair
streamingPairForFile((made) => {
  pair = made
})

/** Scans of the products table on the replica: only catalog reads make them (its position polls read no table). */
const replicaProductScans = async () => {
  const [row] = await query<{ scans: number }>(
    pair.replica.target,
    "SELECT (coalesce(seq_scan, 0) + coalesce(idx_scan, 0))::int AS scans FROM pg_stat_user_tables WHERE relname = 'products'"
  )
  return row?.scans ?? 0
}

test('when a replica is in use, then the export reads its snapshot on the replica', async (t) => {
  const app = await build(
    t,
    { CACHE_ENABLED: 'false', DB_READ_REPLICA_HOST: '127.0.0.1', DB_READ_REPLICA_PORT: String(pair.replica.port) },
    pair.primary.target
  )
  const key = await apiKey(app, 'editor')
  const line = (i: number) =>
    JSON.stringify({ name: `Replica ${i}`, slug: `replica-${i}`, variants: [{ sku: `REP-${i}`, prices: [] }] })
  const imported = await app.inject({
    method: 'POST',
    url: '/api/v1/imports',
    headers: { ...bearer(key), 'content-type': 'application/x-ndjson' },
    payload: [1, 2, 3].map(line).join('\n')
  })
  assert.equal(imported.json().data.counts.created, 3)
  await pair.caughtUp()
  const before = await replicaProductScans()
  const res = await app.inject({ url: '/api/v1/exports/products', headers: bearer(key) })
  assert.equal(res.statusCode, 200)
  assert.deepEqual(
    res.body
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).slug),
    ['replica-1', 'replica-2', 'replica-3']
  )
  // Statistics reach the shared counters within a second of the transaction's end.
  for (let i = 0; i < 60 && (await replicaProductScans()) <= before; i++) await new Promise((r) => setTimeout(r, 50))
  assert.ok((await replicaProductScans()) > before, 'the export read the products on the replica')
})
