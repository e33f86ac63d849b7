import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { build, seed } from '../helper.js'

// The check that keeps the OpenAPI document true (test/contract.ts) must itself catch a drift.
test('when a response differs from the OpenAPI document, then the contract check names the difference', async (t) => {
  const app = await build(t, {}, undefined, (instance) => {
    instance.addHook('onSend', (request, reply, payload, done) => {
      const drift = request.headers['x-test-drift']
      if (drift === 'etag') reply.header('etag', 'W/"not-ours"')
      if (drift === 'body') return done(null, '{"success":true,"data":{"id":"one"}}')
      if (drift === 'status') reply.code(418)
      if (drift === 'shared-error')
        reply.header('cache-control', 'public, max-age=0, s-maxage=5, stale-while-revalidate=5')
      done(null, payload)
    })
  })
  await seed(app, 2)
  assert.equal((await app.inject({ method: 'GET', url: '/api/v1/products/1' })).statusCode, 200)
  await app.contract.verify()

  await app.inject({ method: 'GET', url: '/api/v1/products/1', headers: { 'x-test-drift': 'etag' } })
  await assert.rejects(app.contract.verify(), /getProduct\): ETag: W\/"not-ours" does not match/)
  await app.inject({ method: 'GET', url: '/api/v1/products/1', headers: { 'x-test-drift': 'body' } })
  await assert.rejects(app.contract.verify(), /GET \/api\/v1\/products\/1 → 200 \(getProduct\): body/)
  await app.inject({ method: 'GET', url: '/api/v1/products/1', headers: { 'x-test-drift': 'status' } })
  await assert.rejects(app.contract.verify(), /→ 418 \(getProduct\): status not documented/)
  // An error a CDN could keep: the document says every error is private, no-store.
  await app.inject({ method: 'GET', url: '/api/v1/products/999', headers: { 'x-test-drift': 'shared-error' } })
  await assert.rejects(app.contract.verify(), /→ 404 \(getProduct\): Cache-Control: public, max-age=0/)
  // Outside the document: not checked.
  await app.inject({ method: 'GET', url: '/metrics', headers: { 'x-test-drift': 'status' } })
  await app.contract.verify()
})

test('when an app that listens answers a socket with something the document does not describe, then the contract check names it', async (t) => {
  const app = await build(t, {}, undefined, (instance) => {
    instance.addHook('onSend', (request, reply, payload, done) => {
      if (request.headers['x-test-drift'] === 'etag') reply.header('etag', 'W/"not-ours"')
      done(null, payload)
    })
  })
  await seed(app, 2)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/api/v1/products/1`
  assert.equal((await fetch(url)).status, 200)
  await app.contract.verify()
  assert.equal((await fetch(url, { headers: { 'x-test-drift': 'etag' } })).status, 200)
  await assert.rejects(app.contract.verify(), /GET \/api\/v1\/products\/1 → 200 \(getProduct\): ETag: W\/"not-ours"/)
})
