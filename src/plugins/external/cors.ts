import cors from '@fastify/cors'
import fp from 'fastify-plugin'

/** CORS for the origins in CORS_ORIGIN only; any other origin gets no CORS headers at all. */
export default fp(
  async (app) => {
    const allowed = new Set(
      app.appOptions.config.CORS_ORIGIN.split(',')
        .map((o) => o.trim())
        .filter(Boolean)
    )
    await app.register(cors, {
      origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin)),
      methods: ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type', 'if-match', 'if-none-match', 'idempotency-key', 'x-request-id', 'x-consistency-token'],
      exposedHeaders: ['etag', 'link', 'location', 'retry-after', 'x-request-id', 'ratelimit', 'ratelimit-policy', 'x-consistency-token'],
      maxAge: 600
    })
  },
  { name: 'cors' }
)
