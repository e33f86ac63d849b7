import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Webhook } from 'standardwebhooks'
import { apiKey, assertProblem, bearer, build, createTestDatabase, type TestApp } from '../helper.js'
import { startReceiver } from './receiver.js'

const LOCAL = {
  WEBHOOK_ALLOW_HTTP: 'true',
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
  WEBHOOK_DISPATCH_INTERVAL_MS: '50',
  AUDIT_SEAL_INTERVAL_MS: '100'
}

async function subscribe(app: TestApp, key: string, payload: object) {
  const res = await app.inject({ method: 'POST', url: '/api/v1/webhooks', headers: bearer(key), payload })
  assert.equal(res.statusCode, 201, res.body)
  return res.json().data as { id: number; secret: string; url: string; status: string }
}

const createCategory = (app: TestApp, key: string, name: string) =>
  app.inject({ method: 'POST', url: '/api/v1/categories', headers: bearer(key), payload: { name } })

test('when a webhook is created, then the secret is in that response only, and a delivery carries the event signed per Standard Webhooks (verified with the standardwebhooks package)', async (t) => {
  const app = await build(t, LOCAL)
  const admin = await apiKey(app, 'admin')
  const receiver = await startReceiver(t)
  const hook = await subscribe(app, admin, { url: receiver.url, events: ['category.*'], description: 'index' })
  assert.match(hook.secret, /^whsec_/)
  const list = await app.inject({ method: 'GET', url: '/api/v1/webhooks', headers: bearer(admin) })
  const one = await app.inject({ method: 'GET', url: `/api/v1/webhooks/${hook.id}`, headers: bearer(admin) })
  for (const res of [list, one]) {
    assert.equal(res.statusCode, 200)
    assert.ok(!res.body.includes(hook.secret.slice(6)), 'the secret is not shown again')
  }
  assert.equal(list.json().data[0].url, receiver.url)

  const created = (await createCategory(app, admin, 'Lamps')).json().data
  // Not subscribed to products: no delivery for this one.
  await app.inject({
    method: 'POST',
    url: '/api/v1/products',
    headers: bearer(admin),
    payload: { sku: 'X', name: 'X', priceCents: 1, currency: 'EUR' }
  })
  await receiver.until(1)
  const [request] = receiver.requests
  assert.ok(request)
  const verified = new Webhook(hook.secret).verify(request.body, request.headers) as Record<string, unknown>
  assert.equal(verified.type, 'category.created')
  assert.deepEqual(verified.entity, { type: 'category', id: created.id })
  // The payload is the feed's event, field for field (both are written from the sealed entry).
  const feed = await app.inject({ method: 'GET', url: '/api/v1/events', headers: bearer(admin) })
  assert.deepEqual(
    verified,
    (feed.json().data as { id: number }[]).find((e) => e.id === verified.id)
  )
  assert.equal(request.headers['webhook-id'], `evt_${String(verified.id)}`)
  assert.throws(() =>
    new Webhook(`whsec_${Buffer.alloc(24, 1).toString('base64')}`).verify(request.body, request.headers)
  )
  assert.throws(() => new Webhook(hook.secret).verify(`${request.body} `, request.headers), 'a changed body fails')

  await app.webhooks.drain()
  const deliveries = await app.inject({
    method: 'GET',
    url: `/api/v1/webhooks/${hook.id}/deliveries`,
    headers: bearer(admin)
  })
  assert.equal(deliveries.statusCode, 200)
  const [delivery] = deliveries.json().data
  assert.equal(delivery.status, 'delivered')
  assert.equal(delivery.eventType, 'category.created')
  assert.equal(delivery.attempts[0].responseCode, 200)
  assert.equal(delivery.attempts[0].responseBody, 'ok')
  assert.equal(receiver.requests.length, 1, 'the product event was not sent')
})

test('when the secret is rotated, then deliveries carry two signatures for 24 h: the old secret and the new one both verify', async (t) => {
  const app = await build(t, LOCAL)
  const admin = await apiKey(app, 'admin')
  const receiver = await startReceiver(t)
  const hook = await subscribe(app, admin, { url: receiver.url, events: ['*'] })
  const rotated = await app.inject({
    method: 'POST',
    url: `/api/v1/webhooks/${hook.id}/rotate-secret`,
    headers: bearer(admin)
  })
  assert.equal(rotated.statusCode, 200)
  const fresh = rotated.json().data
  assert.notEqual(fresh.secret, hook.secret)
  const hours = (Date.parse(fresh.previousSecretExpiresAt) - Date.now()) / 3_600_000
  assert.ok(hours > 23.9 && hours <= 24, `old secret kept ${hours} h`)
  await createCategory(app, admin, 'Rotated')
  await receiver.until(1)
  const [request] = receiver.requests
  assert.ok(request)
  assert.equal(request.headers['webhook-signature']?.split(' ').length, 2)
  assert.doesNotThrow(() => new Webhook(hook.secret).verify(request.body, request.headers))
  assert.doesNotThrow(() => new Webhook(fresh.secret).verify(request.body, request.headers))
  // Once the old secret expired, only the new one signs.
  await app.db.primary.query(`UPDATE webhooks SET previous_secret_expires_at = now() - interval '1 second'`)
  await createCategory(app, admin, 'Later')
  await receiver.until(2)
  const later = receiver.requests[1]
  assert.ok(later)
  assert.equal(later.headers['webhook-signature']?.split(' ').length, 1)
  assert.throws(() => new Webhook(hook.secret).verify(later.body, later.headers))
  assert.doesNotThrow(() => new Webhook(fresh.secret).verify(later.body, later.headers))
})

test('when webhook URLs point at loopback, private, link-local, multicast or unspecified addresses (or a name resolving to one, or http), then creation refuses them with 422 naming url and writes nothing', async (t) => {
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  const refused = [
    'https://127.0.0.1/hook',
    'https://10.0.0.1/hook',
    'https://[::1]/hook',
    'https://169.254.169.254/latest/meta-data',
    'https://[::ffff:10.0.0.1]/hook',
    'https://[fe80::1]/hook',
    'https://0.0.0.0/hook',
    'https://[::]/hook',
    'https://224.0.0.1/hook',
    'https://[ff02::1]/hook',
    'https://192.168.1.10/hook',
    'https://172.16.0.1/hook',
    'https://[fd00::1]/hook',
    'https://localhost/hook',
    'http://93.184.216.34/hook',
    'ftp://93.184.216.34/hook',
    'https://user:pw@93.184.216.34/hook'
  ]
  for (const url of refused) {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/webhooks',
      headers: bearer(admin),
      payload: { url, events: ['*'] }
    })
    const problem = assertProblem(res, 422, 'WEBHOOK_URL_REFUSED')
    assert.equal(problem.errors?.[0]?.field, 'url', url)
  }
  const { rows } = await app.db.primary.query<{ n: number }>('SELECT count(*)::int AS n FROM webhooks')
  assert.equal(rows[0]?.n, 0)
  // A public address is accepted.
  await subscribe(app, admin, { url: 'https://93.184.216.34/hook', events: ['*'] })
  const patch = await app.inject({
    method: 'PATCH',
    url: '/api/v1/webhooks/1',
    headers: bearer(admin),
    payload: { url: 'https://127.0.0.1/x' }
  })
  assertProblem(patch, 422, 'WEBHOOK_URL_REFUSED')
})

test('when a subscription was created where private networks were allowed, then an instance that refuses them refuses the delivery too (checked again at every delivery)', async (t) => {
  const target = await createTestDatabase(t)
  const allowing = await build(t, { ...LOCAL, WEBHOOK_DISPATCH_ENABLED: 'false' }, target)
  const refusing = await build(
    t,
    { WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_DISPATCH_INTERVAL_MS: '50', WEBHOOK_RETRY_DELAYS: '1h' },
    target
  )
  const admin = await apiKey(allowing, 'admin')
  const receiver = await startReceiver(t)
  const hook = await subscribe(allowing, admin, { url: receiver.url, events: ['*'] })
  await createCategory(allowing, admin, 'Refused')
  // Either instance may seal it; wait until its delivery is queued and has been tried once.
  for (;;) {
    await refusing.webhooks.drain()
    const { rows } = await refusing.db.primary.query<{ n: number }>('SELECT count(*)::int AS n FROM webhook_attempts')
    if (rows[0]?.n) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const res = await refusing.inject({
    method: 'GET',
    url: `/api/v1/webhooks/${hook.id}/deliveries`,
    headers: bearer(admin)
  })
  const [delivery] = res.json().data
  assert.equal(delivery.status, 'pending')
  assert.equal(delivery.attempts[0].outcome, 'refused')
  assert.match(delivery.attempts[0].error, /127\.0\.0\.1 \(loopback\)/)
  assert.equal(receiver.requests.length, 0, 'nothing reached the receiver')
})

test('when a subscription is paused, then its events wait and are sent on resume; a delivery can be retried by hand and keeps its webhook-id; the test endpoint sends a signed webhook.test', async (t) => {
  const app = await build(t, LOCAL)
  const admin = await apiKey(app, 'admin')
  const receiver = await startReceiver(t, () => 200, 'x'.repeat(3000))
  const hook = await subscribe(app, admin, { url: receiver.url, events: ['category.created'] })
  const pause = await app.inject({
    method: 'PATCH',
    url: `/api/v1/webhooks/${hook.id}`,
    headers: bearer(admin),
    payload: { status: 'paused' }
  })
  assert.equal(pause.json().data.status, 'paused')
  await createCategory(app, admin, 'Waiting')
  await app.audit.seal()
  await app.webhooks.drain()
  assert.equal(receiver.requests.length, 0)
  await app.inject({
    method: 'PATCH',
    url: `/api/v1/webhooks/${hook.id}`,
    headers: bearer(admin),
    payload: { status: 'active' }
  })
  await receiver.until(1)
  await app.webhooks.drain()
  const list = await app.inject({
    method: 'GET',
    url: `/api/v1/webhooks/${hook.id}/deliveries`,
    headers: bearer(admin)
  })
  const [delivery] = list.json().data
  assert.equal(delivery.status, 'delivered')
  assert.equal(delivery.attempts[0].responseBody.length, 1024, 'the first 1 KB of the response is kept')

  const retry = await app.inject({
    method: 'POST',
    url: `/api/v1/webhooks/${hook.id}/deliveries/${delivery.id}/retry`,
    headers: bearer(admin)
  })
  assert.equal(retry.statusCode, 202)
  assert.equal(retry.json().data.status, 'pending')
  await receiver.until(2)
  assert.equal(receiver.requests[1]?.headers['webhook-id'], receiver.requests[0]?.headers['webhook-id'])
  assert.equal(receiver.requests[1]?.body, receiver.requests[0]?.body)
  const missing = await app.inject({
    method: 'POST',
    url: `/api/v1/webhooks/${hook.id}/deliveries/999999/retry`,
    headers: bearer(admin)
  })
  assertProblem(missing, 404, 'DELIVERY_NOT_FOUND')

  const tested = await app.inject({ method: 'POST', url: `/api/v1/webhooks/${hook.id}/test`, headers: bearer(admin) })
  assert.equal(tested.statusCode, 200)
  assert.equal(tested.json().data.outcome, 'delivered')
  assert.equal(tested.json().data.responseCode, 200)
  const probe = receiver.requests[2]
  assert.ok(probe)
  const body = new Webhook(hook.secret).verify(probe.body, probe.headers) as { type: string }
  assert.equal(body.type, 'webhook.test')

  const del = await app.inject({ method: 'DELETE', url: `/api/v1/webhooks/${hook.id}`, headers: bearer(admin) })
  assert.equal(del.statusCode, 204)
  assertProblem(
    await app.inject({ method: 'GET', url: `/api/v1/webhooks/${hook.id}`, headers: bearer(admin) }),
    404,
    'WEBHOOK_NOT_FOUND'
  )
})

test('when an editor or an events key calls the webhook routes, then 403; bad bodies answer 400 naming the field', async (t) => {
  const app = await build(t)
  const editor = await apiKey(app, 'editor')
  const admin = await apiKey(app, 'admin')
  assertProblem(await app.inject({ method: 'GET', url: '/api/v1/webhooks', headers: bearer(editor) }), 403, 'FORBIDDEN')
  const bad = await app.inject({
    method: 'POST',
    url: '/api/v1/webhooks',
    headers: bearer(admin),
    payload: { url: 'https://93.184.216.34/', events: ['nope'] }
  })
  const problem = assertProblem(bad, 400, 'VALIDATION_FAILED')
  assert.ok(
    problem.errors?.some((e) => e.field.includes('events')),
    bad.body
  )
})
