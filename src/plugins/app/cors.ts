import fp from 'fastify-plugin'

const METHODS = 'GET, HEAD, POST, PATCH, DELETE'
const ALLOWED_HEADERS =
  'authorization, content-type, if-match, if-none-match, idempotency-key, x-request-id, x-consistency-token'
const EXPOSED_HEADERS =
  'etag, link, location, retry-after, x-request-id, ratelimit, ratelimit-policy, x-consistency-token, ' +
  'idempotent-replayed'
const MAX_AGE_SECONDS = '600'

/**
 * CORS for the origins in CORS_ORIGIN only; any other origin gets no CORS headers at all. Every answer varies
 * on Origin (it may carry Access-Control-Allow-Origin for one origin and not another). A preflight (OPTIONS
 * with Access-Control-Request-Method) from an allowed origin is answered 204 here; any other OPTIONS request
 * is answered as an unknown route (404, or 405 with Allow where the path exists).
 */
export default fp(
  async (app) => {
    const allowed = new Set(
      app.appOptions.config.CORS_ORIGIN.split(',')
        .map((o) => o.trim())
        .filter(Boolean)
    )
    app.addHook('onRequest', (request, reply, done) => {
      reply.header('vary', 'Origin')
      const origin = request.headers.origin
      if (origin === undefined || !allowed.has(origin)) return done()
      reply.header('access-control-allow-origin', origin)
      reply.header('access-control-expose-headers', EXPOSED_HEADERS)
      if (request.method !== 'OPTIONS') return done()
      if (!request.headers['access-control-request-method']) {
        reply
          .code(400)
          .type('text/plain; charset=utf-8')
          .send('Invalid preflight request: Access-Control-Request-Method is missing')
        return
      }
      reply
        .header('access-control-allow-methods', METHODS)
        .header('access-control-allow-headers', ALLOWED_HEADERS)
        .header('access-control-max-age', MAX_AGE_SECONDS)
        .header('content-length', '0')
        .code(204)
        .send()
    })
    // Reached by OPTIONS requests that are no preflight of an allowed origin.
    app.options('*', { schema: { hide: true } }, (_request, reply) => reply.callNotFound())
  },
  { name: 'cors' }
)
