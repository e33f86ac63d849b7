import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { type Role, touchApiKey } from '../../db/api-keys.js'
import { AppError } from '../../errors.js'
import { BoundedMap } from '../../lib/bounded-map.js'

export interface Principal {
  id: number
  name: string
  role: Role
}

declare module 'fastify' {
  interface FastifyInstance {
    /** An onRequest hook that admits only API keys with one of `roles`. */
    authorize(...roles: Role[]): onRequestAsyncHookHandler
    /** An onRequest hook for reads open to everyone: a known API key gets its principal; any other reads anonymously. */
    identify: onRequestAsyncHookHandler
  }
  interface FastifyRequest {
    principal: Principal | null
  }
}

const TOUCH_INTERVAL_MS = 60_000
const TOUCHED_MAX = 10_000

function unauthorized(detail: string, error?: string): AppError {
  const challenge = error ? `Bearer realm="catalog-api", error="${error}"` : 'Bearer realm="catalog-api"'
  return new AppError('UNAUTHORIZED', detail, undefined, { 'www-authenticate': challenge })
}

/**
 * Admits requests by the key in `request.identity` (see the identity plugin), checked on the primary once per
 * request: a cached lookup is verified first, so a revoked key is refused at once on every instance.
 */
export default fp(
  async (app) => {
    app.decorateRequest('principal', null)
    const lastTouched = new BoundedMap<number, number>(TOUCHED_MAX)

    async function authenticate(request: FastifyRequest): Promise<Principal> {
      // A key grants something here: ask the primary unless this request already did, so a revocation counts at once.
      if (!request.identityVerified) {
        request.identity = await app.identities.verify(request.headers.authorization)
        request.identityVerified = true
      }
      const identity = request.identity
      switch (identity.kind) {
        case 'anonymous':
          throw unauthorized('This operation needs an API key: Authorization: Bearer <key>')
        case 'malformed':
          throw unauthorized('Authorization must be "Bearer <key>"', 'invalid_request')
        case 'unknown':
          throw unauthorized('Unknown or revoked API key', 'invalid_token')
        case 'unverified':
          throw identity.error
      }
      const { id, name, role } = identity.key
      const now = Date.now()
      if ((lastTouched.get(id) ?? 0) < now - TOUCH_INTERVAL_MS) {
        lastTouched.set(id, now)
        touchApiKey(app.db.primary, id).catch((err) => request.log.warn({ err }, 'could not record API key use'))
      }
      return { id, name, role }
    }

    app.decorate('identify', async (request: FastifyRequest) => {
      // Reads trust this instance's key lookups (at most KEY_CACHE_MS old): no primary round trip per read. A key
      // that is unknown, revoked or cannot be checked now reads as anonymous, which sees the least.
      const identity = request.identity
      request.principal =
        identity.kind === 'key' ? { id: identity.key.id, name: identity.key.name, role: identity.key.role } : null
    })

    app.decorate('authorize', (...roles: Role[]) => async (request: FastifyRequest, _reply: FastifyReply) => {
      const principal = await authenticate(request)
      request.principal = principal
      if (!roles.includes(principal.role)) {
        throw new AppError(
          'FORBIDDEN',
          `This operation needs the ${roles.join(' or ')} role; the key has ${principal.role}`
        )
      }
    })
  },
  { name: 'auth', dependencies: ['db', 'identity'] }
)
