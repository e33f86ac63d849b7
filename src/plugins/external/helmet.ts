import type { IncomingMessage, ServerResponse } from 'node:http'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'

/** The policy the HTML documentation pages need (Swagger UI: own scripts, inline styles, data: images). */
export const DOCS_CSP =
  "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self'; img-src 'self' data: https:"
/** JSON renders nothing, so API responses may load nothing and be framed by nobody. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'"

const HELMET_OPTIONS: HelmetOptions = {
  // Set below, per kind of response, in the exact spelling of our policies.
  contentSecurityPolicy: false,
  strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true, preload: true },
  referrerPolicy: { policy: 'no-referrer' }
}

/**
 * The headers helmet sets with these options. They do not depend on the request, so helmet runs once, at
 * start, against a recording response; each request then gets the finished list.
 */
export function securityHeaders(options: HelmetOptions = HELMET_OPTIONS): [string, string][] {
  const headers = new Map<string, string>()
  const recorder = {
    setHeader: (name: string, value: unknown) => headers.set(name.toLowerCase(), String(value)),
    removeHeader: (name: string) => headers.delete(name.toLowerCase())
  }
  let failure: unknown
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, (err?: unknown) => {
    failure = err
  })
  if (failure) throw failure instanceof Error ? failure : new Error('helmet rejected its options')
  return [...headers]
}

export default fp(
  async (app) => {
    const headers = securityHeaders()
    app.addHook('onRequest', (request, reply, done) => {
      for (const [name, value] of headers) reply.header(name, value)
      const url = request.url
      const docs =
        url.startsWith('/docs') &&
        (url.length === 5 || url.charCodeAt(5) === 47 /* / */ || url.charCodeAt(5) === 63) /* ? */
      reply.header('content-security-policy', docs ? DOCS_CSP : API_CSP)
      done()
    })
  },
  { name: 'helmet' }
)
