// State the three instances share through PostgreSQL and Redis: one Idempotency-Key, one rate limit. Both run
// under the steady load of the other scenarios (the admin key's own quota, so it takes nothing from the client's).
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describeFailures, figures } from '../load.js'
import { type Chaos, bearer, loadOn, onPrimary, request, sleep } from '../support.js'

export async function concurrentIdempotentPosts(chaos: Chaos): Promise<void> {
  const { stack } = chaos
  const key = `same-${randomBytes(6).toString('hex')}`
  const sku = `SAME-${key}`
  const body = { sku, name: 'Ten at once', priceCents: 1234, currency: 'USD' }
  const load = loadOn(chaos)
  await sleep(chaos.calmMs)
  // Ten at once, spread over the three instances directly so each one takes some.
  const answers = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      request(`${stack.instances[i % stack.instances.length]!.url}/api/v1/products`, {
        method: 'POST',
        headers: { ...bearer(stack), 'idempotency-key': key },
        body
      })
    )
  )
  const created = answers.filter((a) => a.status === 201 && a.headers['idempotent-replayed'] !== 'true')
  const replays = answers.filter((a) => a.status === 201 && a.headers['idempotent-replayed'] === 'true')
  const inUse = answers.filter((a) => a.status === 409 && a.json().code === 'IDEMPOTENCY_KEY_IN_USE')
  const rows = await onPrimary(stack, async (db) => {
    const { rows } = await db.query<{ n: number }>(
      'SELECT count(DISTINCT product_id)::int AS n FROM product_variants WHERE sku = $1',
      [sku]
    )
    return rows[0]?.n ?? -1
  })
  await sleep(chaos.calmMs)
  const samples = await load.stop()
  const meanwhile = figures(samples)
  chaos.report('10 concurrent identical POSTs, one Idempotency-Key, three instances', {
    load: meanwhile,
    created: created.length,
    replayed: replays.length,
    conflicts409: inUse.length,
    rows,
    statuses: answers.map((a) => a.status).join(',')
  })
  assert.equal(rows, 1, 'one row')
  assert.equal(created.length, 1, 'one request ran')
  assert.equal(replays.length + inUse.length, 9, 'the nine others were replays or 409 IDEMPOTENCY_KEY_IN_USE')
  const ids = new Set(replays.map((a) => a.json().data.id))
  for (const id of ids) assert.equal(id, created[0]!.json().data.id, 'a replay answers the same row')
  assert.equal(meanwhile.failed, 0, `failed requests of the load: ${describeFailures(samples)}`)
  assert.ok(meanwhile.requests > 0, 'the load ran meanwhile')
}

export async function sharedRateLimit(chaos: Chaos): Promise<void> {
  const { stack } = chaos
  const quota = stack.anonymousQuota.max
  // Anonymous clients are limited by address: nginx appends the peer's address to X-Forwarded-For and the
  // instances (TRUST_PROXY=1) take it. A loopback address of its own gives this run a fresh quota.
  const base = 2 + Math.floor(Math.random() * 200)
  const client = `127.0.${base}.2`
  const other = `127.0.${base}.3`
  const load = loadOn(chaos)
  await sleep(chaos.calmMs)
  const started = Date.now()
  const statuses: number[] = []
  for (let i = 0; i < quota + 30; i++)
    statuses.push((await request(`${stack.url}/api/v1/categories`, { from: client })).status)
  const elapsedS = (Date.now() - started) / 1000
  const allowed = statuses.filter((s) => s === 200).length
  const limited = statuses.filter((s) => s === 429).length
  const otherAllowed = (
    await Promise.all(Array.from({ length: 5 }, () => request(`${stack.url}/api/v1/categories`, { from: other })))
  ).filter((a) => a.status === 200).length
  const samples = await load.stop()
  const meanwhile = figures(samples)
  const access = await readFile(join(stack.dir, 'nginx-access.log'), 'utf8')
  const upstreams = new Set(
    access
      .split('\n')
      .filter((line) => line.startsWith(`${client} `))
      .map((line) => /upstream=(\S+)/.exec(line)?.[1])
  )
  // GCRA returns one request every window/max: what the elapsed time may add to the burst.
  const refill = Math.floor(elapsedS / (stack.anonymousQuota.windowMs / 1000 / quota))
  chaos.report('Shared rate limit across three instances', {
    quota: `${quota} per ${stack.anonymousQuota.windowMs / 60_000} min`,
    sent: statuses.length,
    allowed,
    limited429: limited,
    instancesThatAnswered: upstreams.size,
    anotherAddressAllowed: `${otherAllowed}/5`,
    load: meanwhile
  })
  assert.equal(upstreams.size, stack.instances.length, 'nginx spread the requests over every instance')
  assert.ok(allowed >= quota && allowed <= quota + refill, `${allowed} allowed, the quota is ${quota}`)
  assert.equal(allowed + limited, statuses.length, 'only 200 and 429')
  assert.equal(otherAllowed, 5, 'another client address has its own quota')
  assert.equal(meanwhile.failed, 0, `failed requests of the load: ${describeFailures(samples)}`)
  assert.ok(meanwhile.requests > 0, 'the load ran meanwhile')
}
