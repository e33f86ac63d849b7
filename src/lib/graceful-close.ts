import type http from 'node:http'
import net from 'node:net'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const connections = (server: net.Server) =>
  new Promise<number>((resolve) => server.getConnections((err, count) => resolve(err ? 0 : count)))

/**
 * Stops accepting connections without resetting accepted ones. Node's http.Server#close() also closes every
 * idle connection at once, and "idle" includes one whose next request is already on the wire: that client
 * gets a reset for a request that reached the process. So only the listening socket is closed here; accepted
 * connections stay open for `graceMs`, and a request arriving on one is answered (the caller makes such
 * answers carry `Connection: close`, which ends the connection after them). After the grace, connections
 * still idle are closed; those with a request in flight are waited for.
 */
export async function closeListener(server: http.Server, graceMs: number): Promise<void> {
  if (server.listening) net.Server.prototype.close.call(server)
  const graceEnds = Date.now() + graceMs
  while ((await connections(server)) > 0) {
    if (Date.now() >= graceEnds) server.closeIdleConnections()
    await sleep(20)
  }
}
