import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { defer } from '../helper.js'

type Hooks = Parameters<typeof defer>[0]

export interface Received {
  headers: Record<string, string>
  body: string
  /** The answer given: a status, or 'hang' (never answered). */
  answer: number | 'hang'
}

/** How the receiver answers its nth request (0-based): a status, or 'hang' to never answer. */
export type Behaviour = (n: number, request: Received) => number | 'hang'

export interface Receiver {
  url: string
  requests: Received[]
  /** Resolves once `n` requests have arrived. */
  until(n: number): Promise<void>
  setBehaviour(behaviour: Behaviour): void
}

/** A real HTTP receiver on loopback that records every request; closed after the test. */
export async function startReceiver(
  t: Hooks,
  behaviour: Behaviour = () => 200,
  responseBody = 'ok'
): Promise<Receiver> {
  const requests: Received[] = []
  const waiting: { n: number; resolve: () => void }[] = []
  let current = behaviour
  const hanging = new Set<http.ServerResponse>()
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const received: Received = {
        headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
        body: Buffer.concat(chunks).toString('utf8'),
        answer: 200
      }
      received.answer = current(requests.length, received)
      requests.push(received)
      for (const w of waiting.filter((w) => requests.length >= w.n)) {
        waiting.splice(waiting.indexOf(w), 1)
        w.resolve()
      }
      if (received.answer === 'hang') {
        hanging.add(res)
        return
      }
      res.writeHead(received.answer, { 'content-type': 'text/plain' }).end(responseBody)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  defer(t, async () => {
    for (const res of hanging) res.destroy()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    until: (n) =>
      requests.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiting.push({ n, resolve })),
    setBehaviour: (b) => (current = b)
  }
}
