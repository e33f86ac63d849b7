import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { AppError } from '../../errors.js'
import { bearerToken } from '../../lib/bearer.js'
import { findActiveKey, touchApiKey } from '../../modules/api-keys/repository.js'
import type { Role } from '../../modules/api-keys/schemas.js'

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

function unauthorized(detail: string, error?: string): AppError {
  const challenge = error ? `Bearer realm="catalog-api", error="${error}"` : 'Bearer realm="catalog-api"'
  return new AppError('UNAUTHORIZED', detail, undefined, { 'www-authenticate': challenge })
}

export default fp(
  async (app) => {
    app.decorateRequest('principal', null)
    const lastTouched = new Map<number, number>()

    async function authenticate(request: FastifyRequest): Promise<Principal> {
      const header = request.headers.authorization
      if (!header) throw unauthorized('This operation needs an API key: Authorization: Bearer <key>')
      const token = bearerToken(header)
      if (!token || token.length > 200) throw unauthorized('Authorization must be "Bearer <key>"', 'invalid_request')
      // Always the primary: a revocation must take effect at once.
      const row = await findActiveKey(app.db.primary, token)
      if (!row) throw unauthorized('Unknown or revoked API key', 'invalid_token')
      const now = Date.now()
      if ((lastTouched.get(row.id) ?? 0) < now - TOUCH_INTERVAL_MS) {
        lastTouched.set(row.id, now)
        touchApiKey(app.db.primary, row.id).catch((err) => request.log.warn({ err }, 'could not record API key use'))
      }
      return { id: row.id, name: row.name, role: row.role }
    }

    app.decorate('identify', async (request: FastifyRequest) => {
      if (request.headers.authorization === undefined) return
      request.principal = await authenticate(request).catch((err: unknown) => {
        if (err instanceof AppError && err.code === 'UNAUTHORIZED') return null
        throw err
      })
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
  { name: 'auth', dependencies: ['db'] }
)
