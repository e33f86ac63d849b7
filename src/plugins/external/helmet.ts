import helmet from '@fastify/helmet'
import fp from 'fastify-plugin'

/** The policy the HTML documentation pages need (Swagger UI: own scripts, inline styles, data: images). */
export const DOCS_CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self'; img-src 'self' data: https:"
/** JSON renders nothing, so API responses may load nothing and be framed by nobody. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'"

export default fp(
  async (app) => {
    await app.register(helmet, {
      global: true,
      // Set below, per kind of response, in the exact spelling of our policies.
      contentSecurityPolicy: false,
      hsts: { maxAge: 31_536_000, includeSubDomains: true, preload: true },
      referrerPolicy: { policy: 'no-referrer' }
    })
    app.addHook('onRequest', async (request, reply) => {
      const docs = request.url === '/docs' || request.url.startsWith('/docs/')
      reply.header('content-security-policy', docs ? DOCS_CSP : API_CSP)
    })
  },
  { name: 'helmet' }
)
