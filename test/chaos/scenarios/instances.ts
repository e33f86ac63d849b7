// An instance SIGKILLed in the middle of writes, and a rolling restart, through nginx.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describeFailures, figures } from '../load.js'
import type { ApiInstance } from '../../../scripts/stack/api.js'
import type { Stack } from '../../../scripts/stack/stack.js'
import {
  type Answer,
  type Chaos,
  bearer,
  connectionPortsOf,
  loadOn,
  onPrimary,
  request,
  sleep,
  within
} from '../support.js'

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
  const heldOnVictim = await killWithCreateInFlight(stack, victim)
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
    createsInFlightOnVictim: heldOnVictim,
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

/**
 * Kills `victim` while at least one of its creates is inside a transaction. A kill that falls between two
 * requests cuts nothing off (nginx sends the next one to another instance), so creates are held at the products
 * table (a SHARE lock, which reads pass) until one of the victim's database connections waits there; then the
 * instance is SIGKILLed and the lock released. Returns how many of the victim's connections were waiting.
 */
async function killWithCreateInFlight(stack: Stack, victim: ApiInstance): Promise<number> {
  const pid = victim.process()?.pid
  assert.ok(pid, 'the instance to kill is running')
  return onPrimary(stack, async (db) => {
    const waitingOnVictim = async () => {
      const ports = await connectionPortsOf(pid, stack.postgres.primary.port)
      const { rows } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND client_port = ANY($1)`,
        [[...ports]]
      )
      return rows[0]?.n ?? 0
    }
    for (let attempt = 1; ; attempt++) {
      await db.query('BEGIN')
      try {
        await db.query("SET LOCAL lock_timeout = '5s'")
        await db.query('LOCK TABLE products IN SHARE MODE')
        const held = await within(
          'a create of the instance to kill waits',
          3_000,
          async () => (await waitingOnVictim()) > 0
        )
          .then(waitingOnVictim)
          .catch(() => 0)
        if (held > 0) {
          await victim.kill()
          return held
        }
      } finally {
        await db.query('ROLLBACK')
      }
      assert.ok(attempt < 5, 'none of the creates held at the products table went to the instance to kill')
    }
  })
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
