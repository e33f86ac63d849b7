import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { type Role, touchApiKey } from '../../db/api-keys.js'
import { AppError, unauthorized, unknownKey } from '../../errors.js'
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
    /**
     * As authorize, for routes whose work is one mutate() with the request's write context: a key this instance
     * looked up in the last KEY_CACHE_MS is admitted without a round trip to the primary, and the write's own
     * transaction checks that it is still active before its first statement (a revoked key gets 401, nothing changes).
     */
    authorizeWrite(...roles: Role[]): onRequestAsyncHookHandler
    /** An onRequest hook for reads open to everyone: a known API key gets its principal; any other reads anonymously. */
    identify: onRequestAsyncHookHandler
  }
  interface FastifyRequest {
    principal: Principal | null
    /** The key admitted by authorizeWrite from the cache: the write's transaction checks it (WriteContext.keyToCheck). */
    keyToCheck: number | null
  }
}

const TOUCH_INTERVAL_MS = 60_000
const TOUCHED_MAX = 10_000

/**
 * Admits requests by the key in `request.identity` (see the identity plugin), checked on the primary once per
 * request: a cached lookup is verified first, so a revoked key is refused at once on every instance.
 */
export default fp(
  async (app) => {
    app.decorateRequest('principal', null)
    app.decorateRequest('keyToCheck', null)
    const lastTouched = new BoundedMap<number, number>(TOUCHED_MAX)

    async function authenticate(request: FastifyRequest, checkedByWrite: boolean): Promise<Principal> {
      // A key grants something here: ask the primary unless this request already did, or its write will check the
      // key in its own transaction, so a revocation counts at once.
      if (checkedByWrite && !request.identityVerified && request.identity.kind === 'key') {
        request.keyToCheck = request.identity.key.id
      } else if (!request.identityVerified) {
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
          throw unknownKey()
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

    const admitting =
      (checkedByWrite: boolean) =>
      (...roles: Role[]) =>
        async function admit(request: FastifyRequest, _reply: FastifyReply) {
          const principal = await authenticate(request, checkedByWrite)
          request.principal = principal
          if (!roles.includes(principal.role)) {
            throw new AppError(
              'FORBIDDEN',
              `This operation needs the ${roles.join(' or ')} role; the key has ${principal.role}`
            )
          }
        }
    app.decorate('authorize', admitting(false))
    app.decorate('authorizeWrite', admitting(true))
  },
  { name: 'auth', dependencies: ['db', 'identity'] }
)
