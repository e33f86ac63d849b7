// The command-line tools' database connection, against a loopback endpoint that answers PostgreSQL's SSLRequest
// and then speaks TLS with a certificate of its own (made here with openssl).
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import tls from 'node:tls'
import { withClient } from '../../scripts/cli.js'
import { loadConfig } from '../../src/config.js'

/** A TLS endpoint behind PostgreSQL's SSLRequest; it closes every connection once the handshake is done. */
async function tlsPostgres(t: { after(fn: () => unknown): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'catalog-cli-tls-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const [keyFile, certFile] = [join(dir, 'key.pem'), join(dir, 'cert.pem')]
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      certFile
    ],
    { stdio: 'ignore' }
  )
  const context = tls.createSecureContext({ key: await readFile(keyFile), cert: await readFile(certFile) })
  const handshakes = { done: 0 }
  const server = net.createServer((socket) => {
    socket.once('data', () => {
      socket.write('S')
      const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: context })
      secure.on('secure', () => {
        handshakes.done++
        secure.destroy()
      })
      secure.on('error', () => socket.destroy())
    })
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise((resolve) => server.close(resolve)))
  return { port: (server.address() as net.AddressInfo).port, certFile, handshakes }
}

const connect = (env: NodeJS.ProcessEnv) => withClient(loadConfig(env), async () => 'connected')

test('when DB_SSL_CA_FILE names the CA of the database certificate, then the CLI verifies the server with it', async (t) => {
  const server = await tlsPostgres(t)
  const env = { DB_HOST: '127.0.0.1', DB_PORT: String(server.port), DB_SSL: 'true' }

  const withoutCa = await connect(env).catch((err: Error) => err)
  assert.ok(withoutCa instanceof Error)
  assert.match(withoutCa.message, /self[- ]signed certificate/, 'without the bundle the certificate is refused')
  assert.equal(server.handshakes.done, 0)

  const withCa = await connect({ ...env, DB_SSL_CA_FILE: server.certFile }).catch((err: Error) => err)
  // The endpoint closes after the handshake: the failure is past TLS, the certificate was accepted.
  assert.ok(withCa instanceof Error)
  assert.doesNotMatch(withCa.message, /certificate/)
  assert.equal(server.handshakes.done, 1, 'the TLS handshake completed with the bundle')
})
