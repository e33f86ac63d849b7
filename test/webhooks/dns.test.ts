import assert from 'node:assert/strict'
import dns from 'node:dns'
import { test } from 'node:test'
import { apiKey, assertProblem, bearer, build } from '../helper.js'
import { startDnsServer } from './dns-server.js'

test('when a webhook URL names a host that DNS resolves to a private or metadata address, then creation refuses it naming the address; a name resolving to a public address is accepted', async (t) => {
  const server = await startDnsServer(t, {
    'internal.example.test': '10.0.0.1',
    'metadata.example.test': '169.254.169.254',
    'public.example.test': '93.184.216.34'
  })
  // This process asks that DNS server (a real one, over UDP on loopback) for every name.
  const before = dns.getServers()
  dns.setServers([server])
  t.after(() => dns.setServers(before))
  const app = await build(t)
  const admin = await apiKey(app, 'admin')
  const create = (url: string) =>
    app.inject({ method: 'POST', url: '/api/v1/webhooks', headers: bearer(admin), payload: { url, events: ['*'] } })
  const internal = assertProblem(await create('https://internal.example.test/hook'), 422, 'WEBHOOK_URL_REFUSED')
  assert.match(internal.detail, /10\.0\.0\.1 \(private\)/)
  const metadata = assertProblem(await create('https://metadata.example.test/'), 422, 'WEBHOOK_URL_REFUSED')
  assert.match(metadata.detail, /169\.254\.169\.254 \(linkLocal\)/)
  assertProblem(await create('https://unknown.example.test/'), 422, 'WEBHOOK_URL_REFUSED')
  const accepted = await create('https://public.example.test/hook')
  assert.equal(accepted.statusCode, 201, accepted.body)
})
