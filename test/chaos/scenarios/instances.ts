// An instance SIGKILLed in the middle of writes, and a rolling restart, through nginx.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describeFailures, figures } from '../load.js'
import { type Answer, type Chaos, bearer, loadOn, onPrimary, request, sleep } from '../support.js'

const noAnswer: Answer = { status: 0, headers: {}, body: '', json: () => null }

export async function instanceKilled(chaos: Chaos): Promise<void> {
  const { stack } = chaos
  const run = randomBytes(4).toString('hex')
  const total = chaos.form === 'full' ? 300 : 120
  let next = 0
  let retried = 0
  let replayed = 0
  const statuses: number[] = []
  // A client that retries a create with the same Idempotency-Key until it has an answer below 500.
  const writer = async () => {
    for (let n = next++; n < total; n = next++) {
      for (let attempt = 0; ; attempt++) {
        const res = await request(`${stack.url}/api/v1/products`, {
          method: 'POST',
          headers: { ...bearer(stack), 'idempotency-key': `kill-${run}-${n}` },
          body: { sku: `KILL-${run}-${n}`, name: `Kill ${n}`, priceCents: 100 + n, currency: 'USD' }
        }).catch((): Answer => noAnswer)
        if (res.status === 201) {
          if (res.headers['idempotent-replayed'] === 'true') replayed += 1
          statuses.push(res.status)
          break
        }
        assert.ok(attempt < 20, `create ${n} still failing after 20 attempts (${res.status})`)
        retried += 1
        await sleep(res.status === 409 ? 200 : 50)
      }
    }
  }
  const reads = loadOn(chaos, { writeShare: 0 })
  const writers = Promise.all(Array.from({ length: 8 }, writer))
  while (next < total / 3) await sleep(10)
  const victim = stack.instances[1]!
  await victim.kill()
  await writers
  const readSamples = await reads.stop()
  await victim.start()

  const check = await onPrimary(stack, async (db) => {
    const q = async (sql: string) => (await db.query<{ n: number }>(sql, [`KILL-${run}-%`])).rows[0]?.n ?? -1
    return {
      // Each created product has one (default) variant carrying the SKU.
      rows: await q('SELECT count(DISTINCT product_id)::int AS n FROM product_variants WHERE sku LIKE $1'),
      distinct: await q('SELECT count(DISTINCT sku)::int AS n FROM product_variants WHERE sku LIKE $1'),
      withoutAudit: await q(`SELECT count(*)::int AS n FROM products p
        WHERE EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = p.id AND v.sku LIKE $1)
          AND NOT EXISTS (SELECT 1 FROM audit_log a
                           WHERE a.entity_type = 'product' AND a.entity_id = p.id AND a.action = 'create')`)
    }
  })
  const changesWithoutAudit = await onPrimary(stack, async (db) => {
    // The seeded demo catalog is loaded without audit; every product made through the API has its entry.
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM products p
      WHERE NOT EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = p.id AND v.sku LIKE 'DEMO-%')
        AND NOT EXISTS (
        SELECT 1 FROM audit_log a WHERE a.entity_type = 'product' AND a.entity_id = p.id)`)
    return rows[0]?.n ?? -1
  })
  chaos.report('One API instance SIGKILLed mid-writes', {
    creates: total,
    retriedAttempts: retried,
    answeredByReplay: replayed,
    rows: check.rows,
    productsWithoutAuditEntry: check.withoutAudit,
    readsMeanwhile: figures(readSamples)
  })
  assert.equal(statuses.length, total, 'every create got its 201 in the end')
  assert.equal(check.rows, total, 'exactly one row per create, however often it was retried')
  assert.equal(check.distinct, total)
  assert.equal(check.withoutAudit, 0, 'a product without its audit entry')
  assert.equal(changesWithoutAudit, 0, 'a product anywhere without an audit entry')
  assert.ok(retried > 0, 'the kill cut some writes off (nothing was tested otherwise)')
}

export async function rollingRestart(chaos: Chaos): Promise<void> {
  const { stack } = chaos
  const load = loadOn(chaos)
  await sleep(chaos.calmMs)
  const timings: number[] = []
  for (let i = 0; i < stack.instances.length; i++) {
    const started = performance.now()
    await stack.restartInstance(i)
    timings.push(Math.round(performance.now() - started))
  }
  await sleep(chaos.calmMs)
  const samples = await load.stop()
  const all = figures(samples)
  chaos.report('Rolling restart (SIGTERM with drain, start)', {
    load: all,
    restartMsPerInstance: timings.join(', ')
  })
  assert.equal(all.failed, 0, `failed requests: ${describeFailures(samples)}`)
  assert.ok(
    samples.every((s) => s.status === 200 || s.status === 201),
    `unexpected answers: ${JSON.stringify(all.byStatus)}`
  )
}
