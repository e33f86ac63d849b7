import net from 'node:net'
import { defer } from './helper.js'

export type ProxyMode = 'pass' | 'blackhole' | 'reset'

export interface TcpProxy {
  port: number
  url: string
  mode: ProxyMode
  /** Connections accepted so far, whatever the mode. */
  readonly accepted: number
  setMode(mode: ProxyMode): void
  close(): Promise<void>
}

/**
 * A TCP proxy in front of Redis or PostgreSQL that a test controls: `pass` forwards, `blackhole` accepts and holds every
 * byte in both directions without answering (as a network that silently drops packets, whose data TCP
 * delivers once it heals), `reset` resets every connection, present and new.
 */
export async function startProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket; flush(): void }>()
  let mode: ProxyMode = 'pass'
  let accepted = 0
  const server = net.createServer((client) => {
    accepted++
    if (mode === 'reset') {
      client.resetAndDestroy()
      return
    }
    const upstream = net.connect(target)
    const held: [net.Socket, Buffer][] = []
    const forward = (to: net.Socket) => (chunk: Buffer) => {
      if (mode === 'pass' && held.length === 0) to.write(chunk)
      else held.push([to, chunk])
    }
    const pair = {
      client,
      upstream,
      flush() {
        for (const [to, chunk] of held.splice(0)) to.write(chunk)
      }
    }
    pairs.add(pair)
    client.on('data', forward(upstream))
    upstream.on('data', forward(client))
    const end = () => {
      pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    for (const socket of [client, upstream]) {
      socket.on('error', end)
      socket.on('close', end)
      socket.on('end', end)
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get mode() {
      return mode
    },
    get accepted() {
      return accepted
    },
    setMode(next) {
      mode = next
      if (next === 'pass') for (const pair of pairs) pair.flush()
      if (next === 'reset') {
        for (const pair of pairs) {
          pair.client.resetAndDestroy()
          pair.upstream.destroy()
        }
        pairs.clear()
      }
    },
    async close() {
      for (const pair of pairs) {
        pair.client.destroy()
        pair.upstream.destroy()
      }
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

/** The proxy to 127.0.0.1:`targetPort` with pass/blackhole switches, closed after the test. */
export async function tcpProxy(t: Parameters<typeof defer>[0], targetPort: number) {
  const proxy = await startProxy({ host: '127.0.0.1', port: targetPort })
  defer(t, () => proxy.close())
  return { port: proxy.port, pass: () => proxy.setMode('pass'), blackhole: () => proxy.setMode('blackhole') }
}
