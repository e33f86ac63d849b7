import assert from 'node:assert/strict'
import { test } from 'node:test'
import pg from 'pg'
import { createApiKey } from '../../src/modules/api-keys/service.js'
import { verifyChain } from '../../src/writes/verify.js'
import { connect, createTestDatabase } from '../helper.js'
import { startServer } from '../server-process.js'

interface Attempt {
  i: number
  status?: number
  id?: number
  lost?: boolean
}

test('when the server is SIGKILLed in the middle of a write load, then no row lacks its audit entry, no key lacks its response, and replaying the lost requests creates no duplicates', async (t) => {
  const target = await createTestDatabase(t)
  const db = await connect(t, target)
  const { key } = await createApiKey(db, { name: 'loader', role: 'editor' })
  // In this test's own database, every COMMIT of a product takes 100 ms (a deferred trigger), so the kill lands
  // while transactions are committing: PostgreSQL finishes them although their client is gone, and their
  // responses are never sent, the case a client cannot tell from a request that never ran.
  await db.query(`
    CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.1); RETURN NULL; END $$;
    CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON products DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();`)
  const server = await startServer(t, target, { LOG_LEVEL: 'warn' })

  const total = 120
  const send = (url: string, i: number) =>
    fetch(`${url}/api/v1/products`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'idempotency-key': `load-${i}` },
      body: JSON.stringify({ sku: `CRASH-${i}`, name: `Crash ${i}`, priceCents: i, currency: 'USD' })
    })
  const attempts: Attempt[] = Array.from({ length: total }, (_, i) => ({ i }))
  let next = 0
  let done = 0
  const worker = async () => {
    while (next < total) {
      const attempt = attempts[next++] as Attempt
      try {
        const res = await send(server.url, attempt.i)
        attempt.status = res.status
        attempt.id = ((await res.json()) as { data?: { id: number } }).data?.id
      } catch {
        attempt.lost = true
      }
      // Half-way through the next commit's 100 ms, not in step with a response.
      if (++done === 40) setTimeout(() => server.child.kill('SIGKILL'), 50)
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker))
  await server.exited
  const lost = attempts.filter((a) => a.lost)
  assert.ok(attempts.filter((a) => a.status === 201).length >= 30, 'the load ran before the kill')
  assert.ok(lost.length > 0, 'the kill cut requests off')

  // Invariants right after the crash, before anything is retried.
  const orphans = async (client: pg.Client) => {
    const q = async (sql: string) => (await client.query<{ n: number }>(sql)).rows[0]?.n ?? -1
    return {
      productsWithoutAudit: await q(`SELECT count(*)::int AS n FROM products p WHERE NOT EXISTS (
        SELECT 1 FROM audit_log a WHERE a.entity_type = 'product' AND a.entity_id = p.id AND a.action = 'create')`),
      auditWithoutProduct:
        await q(`SELECT count(*)::int AS n FROM audit_log a WHERE a.entity_type = 'product' AND NOT EXISTS (
        SELECT 1 FROM products p WHERE p.id = a.entity_id)`),
      keysWithoutResponse:
        await q(`SELECT count(*)::int AS n FROM idempotency_keys k WHERE k.status <> 201 OR NOT EXISTS (
        SELECT 1 FROM products p WHERE p.id = (k.body->'data'->>'id')::int)`),
      productsWithoutKey: await q(`SELECT count(*)::int AS n FROM products p WHERE NOT EXISTS (
        SELECT 1 FROM idempotency_keys k WHERE (k.body->'data'->>'id')::int = p.id)`)
    }
  }
  const clean = { productsWithoutAudit: 0, auditWithoutProduct: 0, keysWithoutResponse: 0, productsWithoutKey: 0 }
  assert.deepEqual(await orphans(db), clean)
  assert.equal((await verifyChain(db, { maxDelayMs: 60_000 })).ok, true)

  await db.query('DROP TRIGGER slow_commit ON products')
  // A fresh instance; the client retries every request whose connection was lost, with the same key.
  const again = await startServer(t, target, { LOG_LEVEL: 'warn' })
  let replayed = 0
  const retries = [...lost]
  const retry = async () => {
    for (let attempt = retries.pop(); attempt; attempt = retries.pop()) {
      const res = await send(again.url, attempt.i)
      assert.equal(res.status, 201, `retry of request ${attempt.i}: ${res.status} ${await res.text()}`)
      if (res.headers.get('idempotent-replayed') === 'true') replayed += 1
    }
  }
  await Promise.all(Array.from({ length: 8 }, retry))
  // Lost requests that had committed before the kill are the ones replayed rather than run again.
  t.diagnostic(`${lost.length} requests lost their connection; ${replayed} of them had committed and were replayed`)
  assert.ok(replayed > 0, 'some requests committed without their client hearing of it')
  const { rows } = await db.query<{ n: number; skus: number }>(
    'SELECT count(*)::int AS n, count(DISTINCT sku)::int AS skus FROM products p JOIN product_variants v ON v.product_id = p.id'
  )
  const expected = attempts.filter((a) => a.status === 201).length + lost.length
  assert.equal(rows[0]?.n, expected, 'one product per request, none twice')
  assert.deepEqual(await orphans(db), clean)
  const audit = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE entity_type = 'product'`)
  assert.equal(audit.rows[0]?.n, expected)
  assert.equal((await verifyChain(db, { maxDelayMs: 60_000 })).ok, true)
})
