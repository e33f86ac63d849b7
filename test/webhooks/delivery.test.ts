import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Webhook } from 'standardwebhooks'
import { apiKey, bearer, build, createTestDatabase, type TestApp } from '../helper.js'
import { startServer } from '../server-process.js'
import { startReceiver, type Receiver } from './receiver.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const FAST_RETRIES = {
  WEBHOOK_ALLOW_HTTP: 'true',
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
  WEBHOOK_DISPATCH_INTERVAL_MS: '50',
  AUDIT_SEAL_INTERVAL_MS: '100',
  WEBHOOK_TIMEOUT_MS: '300',
  WEBHOOK_RETRY_DELAYS: '50ms,100ms,150ms',
  WEBHOOK_RETRY_REPEAT: '200ms'
}

async function subscribe(app: TestApp, key: string, url: string): Promise<{ id: number; secret: string }> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/webhooks',
    headers: bearer(key),
    payload: { url, events: ['*'] }
  })
  assert.equal(res.statusCode, 201, res.body)
  return res.json().data
}

const metric = async (app: TestApp, name: string, labels = '') => {
  const text = await app.metrics.registry.metrics()
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `))
  return Number(line?.split(' ')[1] ?? Number.NaN)
}

/** Waits (polling) until `check` holds; the test's own timeout bounds it. */
async function eventually(check: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await check())) await sleep(50)
}

const acceptedIds = (receiver: Receiver) =>
  new Set(receiver.requests.filter((r) => r.answer === 200).map((r) => r.headers['webhook-id']))

test('when a receiver answers 500 for a while, then times out, then 200, then every event arrives, every signature verifies, duplicates carry the same webhook-id and body, and each entity’s events arrive in commit order', async (t) => {
  const app = await build(t, { ...FAST_RETRIES, WEBHOOK_RETRY_FOR: '60s' })
  const admin = await apiKey(app, 'admin')
  const receiver = await startReceiver(t, (n) => (n < 6 ? 500 : n < 10 ? 'hang' : 200))
  const hook = await subscribe(app, admin, receiver.url)

  const ids: number[] = []
  for (const name of ['A', 'B', 'C']) {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/categories',
      headers: bearer(admin),
      payload: { name }
    })
    ids.push(res.json().data.id)
  }
  for (let round = 1; round <= 3; round++)
    for (const id of ids)
      await app.inject({
        method: 'PATCH',
        url: `/api/v1/categories/${id}`,
        headers: bearer(admin),
        payload: { description: `round ${round}` }
      })
  await app.audit.seal()
  const feed = (await app.inject({ method: 'GET', url: '/api/v1/events?limit=100', headers: bearer(admin) })).json()
    .data as { id: number; entity: { id: number } }[]
  assert.equal(feed.length, 12)
  await eventually(() => acceptedIds(receiver).size === feed.length)

  // Every event arrived.
  assert.deepEqual(acceptedIds(receiver), new Set(feed.map((e) => `evt_${e.id}`)))
  // Every request, retries included, verifies; a retry is the same message (same id, same body).
  const bodyOf = new Map<string, string>()
  for (const request of receiver.requests) {
    assert.doesNotThrow(() => new Webhook(hook.secret).verify(request.body, request.headers))
    const id = request.headers['webhook-id'] as string
    if (bodyOf.has(id)) assert.equal(request.body, bodyOf.get(id), `retry of ${id}`)
    bodyOf.set(id, request.body)
  }
  assert.ok(receiver.requests.length > feed.length, 'there were retries')
  assert.ok(receiver.requests.some((r) => r.answer === 'hang'))
  // Per entity: an event is sent only after every earlier event of that entity was accepted.
  const entityOf = new Map(feed.map((e) => [`evt_${e.id}`, e.entity.id]))
  const positionOf = (id: string) => Number(id.slice(4))
  const accepted = new Set<string>()
  for (const request of receiver.requests) {
    const id = request.headers['webhook-id'] as string
    const earlier = feed.filter((e) => e.entity.id === entityOf.get(id) && e.id < positionOf(id))
    for (const e of earlier) assert.ok(accepted.has(`evt_${e.id}`), `${id} was sent before evt_${e.id} was delivered`)
    if (request.answer === 200) accepted.add(id)
  }

  await app.webhooks.drain()
  assert.ok((await metric(app, 'webhook_deliveries_total', '{outcome="http_error"}')) >= 6)
  assert.ok((await metric(app, 'webhook_deliveries_total', '{outcome="timeout"}')) >= 1)
  assert.equal(await metric(app, 'webhook_deliveries_total', '{outcome="delivered"}'), feed.length)
  assert.equal(await metric(app, 'webhook_queue_depth'), 0)
  assert.equal(await metric(app, 'webhook_oldest_undelivered_age_seconds'), 0)
  const list = await app.inject({
    method: 'GET',
    url: `/api/v1/webhooks/${hook.id}/deliveries?limit=100`,
    headers: bearer(admin)
  })
  const outcomes = list
    .json()
    .data.flatMap((d: { attempts: { outcome: string }[] }) => d.attempts.map((a) => a.outcome))
  assert.ok(outcomes.includes('http_error') && outcomes.includes('timeout') && outcomes.includes('delivered'))
})

test('when a receiver fails for the whole retry schedule, then the delivery fails, the subscription is disabled with the reason, no more events are queued for it, and the events stay in the feed', async (t) => {
  const app = await build(t, { ...FAST_RETRIES, WEBHOOK_RETRY_FOR: '1s' })
  const admin = await apiKey(app, 'admin')
  const receiver = await startReceiver(t, () => 500, 'down for maintenance')
  const hook = await subscribe(app, admin, receiver.url)
  await app.inject({ method: 'POST', url: '/api/v1/categories', headers: bearer(admin), payload: { name: 'Lost' } })
  const get = () => app.inject({ method: 'GET', url: `/api/v1/webhooks/${hook.id}`, headers: bearer(admin) })
  await eventually(async () => (await get()).json().data.status === 'disabled')
  const disabled = (await get()).json().data
  assert.match(disabled.disabledReason, /not delivered after \d+ attempts .*http_error 500/)
  assert.ok(receiver.requests.length >= 2, 'it was retried before giving up')
  assert.equal(await metric(app, 'webhook_subscriptions_disabled'), 1)
  assert.equal(await metric(app, 'webhook_subscriptions_disabled_total'), 1)
  const deliveries = await app.inject({
    method: 'GET',
    url: `/api/v1/webhooks/${hook.id}/deliveries`,
    headers: bearer(admin)
  })
  assert.equal(deliveries.json().data[0].status, 'failed')
  assert.equal(deliveries.json().data[0].attempts.at(-1).responseBody, 'down for maintenance')

  await app.inject({ method: 'POST', url: '/api/v1/categories', headers: bearer(admin), payload: { name: 'After' } })
  await app.audit.seal()
  const { rows } = await app.db.primary.query<{ n: number }>('SELECT count(*)::int AS n FROM webhook_deliveries')
  assert.equal(rows[0]?.n, 1, 'a disabled subscription queues nothing')
  const feed = await app.inject({ method: 'GET', url: '/api/v1/events', headers: bearer(admin) })
  assert.deepEqual(
    feed.json().data.map((e: { type: string }) => e.type),
    ['category.created', 'category.created']
  )
})

test('when the instance delivering is SIGKILLed mid-delivery, then another instance delivers that event again (same webhook-id) once the lease expires', async (t) => {
  const target = await createTestDatabase(t)
  // The in-process app writes and administers; only the server processes deliver.
  const app = await build(t, { ...FAST_RETRIES, WEBHOOK_DISPATCH_ENABLED: 'false' }, target)
  const admin = await apiKey(app, 'admin')
  const receiver = await startReceiver(t, (n) => (n === 0 ? 'hang' : 200))
  const hook = await subscribe(app, admin, receiver.url)
  const env = {
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    WEBHOOK_DISPATCH_INTERVAL_MS: '100',
    WEBHOOK_TIMEOUT_MS: '1000',
    LOG_LEVEL: 'warn'
  }
  const first = await startServer(t, target, env)
  await app.inject({ method: 'POST', url: '/api/v1/categories', headers: bearer(admin), payload: { name: 'Killed' } })
  await receiver.until(1)
  first.child.kill('SIGKILL')
  assert.equal((await first.exited).signal, 'SIGKILL')
  const second = await startServer(t, target, env)
  await receiver.until(2)
  const [cut, again] = receiver.requests
  assert.ok(cut && again)
  assert.equal(again.headers['webhook-id'], cut.headers['webhook-id'])
  assert.equal(again.body, cut.body)
  assert.doesNotThrow(() => new Webhook(hook.secret).verify(again.body, again.headers))
  await eventually(async () => {
    const { rows } = await app.db.primary.query<{ status: string }>('SELECT status FROM webhook_deliveries')
    return rows[0]?.status === 'delivered'
  })
  second.child.kill('SIGTERM')
  await second.exited
})
