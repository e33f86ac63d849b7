import type { IncomingMessage, Server } from 'node:http'

const deadlines = new WeakMap<IncomingMessage, NodeJS.Timeout>()

/**
 * REQUEST_TIMEOUT_MS, kept per request instead of by Node's `server.requestTimeout`, so that one route can take it
 * off a request it reads for longer (an import's upload: see releaseRequestDeadline). The contract is Node's: a
 * request whose body has not fully arrived `timeoutMs` after its headers is rejected as Node rejects it, through
 * the server's `clientError` handler with ERR_HTTP_REQUEST_TIMEOUT (our 408 problem+json, the connection closed);
 * a request that has arrived is not cut short however long its answer takes. Node checks its own deadline only
 * every `connectionsCheckingInterval` (30 s), so it fired up to 30 s late; this one fires on time.
 * `server.headersTimeout` stays Node's.
 */
export function keepRequestDeadlines(server: Server, timeoutMs: number): void {
  server.requestTimeout = 0
  if (timeoutMs <= 0) return
  // Before the app's own listener, so the deadline exists when the route's handler may release it.
  server.prependListener('request', (req: IncomingMessage) => {
    if (req.complete) return // no body, or a body that came with the headers
    const timer = setTimeout(() => {
      deadlines.delete(req)
      const socket = req.socket
      if (req.complete || socket.destroyed) return
      const err = Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' })
      if (!server.emit('clientError', err, socket)) socket.destroy(err)
    }, timeoutMs)
    timer.unref()
    deadlines.set(req, timer)
    req.once('close', () => releaseRequestDeadline(req))
  })
}

/** Takes REQUEST_TIMEOUT_MS off this request: its reader bounds the upload itself. */
export function releaseRequestDeadline(req: IncomingMessage): void {
  const timer = deadlines.get(req)
  if (timer === undefined) return
  clearTimeout(timer)
  deadlines.delete(req)
}
