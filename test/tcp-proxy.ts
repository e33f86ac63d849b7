import { createServer, type Socket, connect } from 'node:net'
import { defer } from './helper.js'

type Hooks = Parameters<typeof defer>[0]

export interface TcpProxy {
  port: number
  /** Forward traffic (the default). */
  pass(): void
  /** Accept connections and swallow every byte both ways, like a dropped security group or a zombie host. */
  blackhole(): void
}

/** A TCP proxy to 127.0.0.1:`targetPort` that can turn silent (no tc/netem or toxiproxy here). */
export async function tcpProxy(t: Hooks, targetPort: number): Promise<TcpProxy> {
  let mode: 'pass' | 'blackhole' = 'pass'
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort })
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => {})
      s.on('close', () => sockets.delete(s))
    }
    client.on('data', (chunk) => mode === 'pass' && upstream.write(chunk))
    upstream.on('data', (chunk) => mode === 'pass' && client.write(chunk))
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  defer(t, async () => {
    for (const s of sockets) s.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  const address = server.address()
  if (!address || typeof address === 'string') throw new Error('proxy has no port')
  return {
    port: address.port,
    pass: () => {
      mode = 'pass'
    },
    blackhole: () => {
      mode = 'blackhole'
    }
  }
}
