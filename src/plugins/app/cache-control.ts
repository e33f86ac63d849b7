import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { CONSISTENCY_TOKEN_HEADER } from '../../db/read-context.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * A catalog read anyone may see: shared caches (a CDN) may keep its anonymous answers briefly. Such a route
     * answers through respondCached: its rate-limit decision is not awaited in onRequest (see the rate-limit
     * plugin; test/rate-limit/admission.test.ts holds this for every route).
     */
    publicRead?: boolean
  }
}

export const PRIVATE = 'private, no-store'

/** Only an anonymous, successful read of public data may be stored by a shared cache. */
function isShareable(request: FastifyRequest, reply: FastifyReply): boolean {
  const status = reply.statusCode
  return (
    request.routeOptions.config.publicRead === true &&
    (status === 200 || status === 304) &&
    request.headers.authorization === undefined &&
    request.headers[CONSISTENCY_TOKEN_HEADER] === undefined
  )
}

/**
 * Cache-Control on every answer (RFC 9111). Anonymous catalog reads: `public, max-age=0` (browsers revalidate
 * with their ETag every time) and `s-maxage` / `stale-while-revalidate` of CDN_MAX_AGE_SECONDS for a CDN, which
 * therefore serves a change at most twice that late. A request with an API key or a consistency token, admin
 * routes and every error: `private, no-store`. A header a route set itself (the docs' static files) is kept
 * unless the answer is an error.
 */
export default fp(
  (app, _opts, ready) => {
    const seconds = app.appOptions.config.CDN_MAX_AGE_SECONDS
    const shared = `public, max-age=0, s-maxage=${seconds}, stale-while-revalidate=${seconds}`
    app.addHook('onSend', (request, reply, payload, done) => {
      if (reply.statusCode >= 400) reply.header('cache-control', PRIVATE)
      else if (isShareable(request, reply)) {
        reply.header('cache-control', shared)
        // A request with a consistency token is answered privately: a shared cache must not answer it with this.
        const vary = reply.getHeader('vary')
        reply.header('vary', vary ? `${String(vary)}, X-Consistency-Token` : 'X-Consistency-Token')
      } else if (!reply.hasHeader('cache-control')) reply.header('cache-control', PRIVATE)
      done(null, payload)
    })
    ready()
  },
  { name: 'cache-control' }
)
