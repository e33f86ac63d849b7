import fp from 'fastify-plugin'
import { type ActiveKeyRow, findActiveKey } from '../../db/api-keys.js'
import type { Queryable } from '../../db/pool.js'
import { bearerToken } from '../../lib/bearer.js'
import { BoundedMap } from '../../lib/bounded-map.js'

/** Who sent a request, as its Authorization header says. */
export type Identity =
  | { kind: 'anonymous' }
  /** Not `Bearer <token>`, or a token longer than any key. */
  | { kind: 'malformed' }
  /** Not an active key (unknown or revoked). */
  | { kind: 'unknown' }
  /** The database could not tell (it is unavailable): `error` is why. */
  | { kind: 'unverified'; error: unknown }
  | { kind: 'key'; key: ActiveKeyRow }

/**
 * How long a key's lookup is trusted for rate limiting: a revoked key may still count as itself (rather than as
 * its address) this long. Whatever a key grants is checked on the primary (see `verify`): a revocation takes
 * effect at once there. Documented in docs/api.md.
 */
export const KEY_CACHE_MS = 10_000
/**
 * While the database cannot be asked (a primary outage), a key's last lookup keeps standing for rate limiting and
 * public reads if it is at most this much past its KEY_CACHE_MS: a key does not fall back to its address's
 * quota (and its reads to an anonymous view) in the middle of an outage. What a key grants is never taken from it.
 */
export const KEY_STALE_MS = 5 * 60_000
const KEY_CACHE_MAX = 10_000
const MAX_TOKEN_LENGTH = 200

const ANONYMOUS: Identity = { kind: 'anonymous' }

/** Health checks and the scrape: no API key, no rate limit, nothing that waits for the database. */
export const isUnadmitted = (path: string) => /^\/(health(\/|$)|metrics$)/.test(path)
const UNADMITTED_PREFIX = /^\/(health|metrics)/
const MALFORMED: Identity = { kind: 'malformed' }
const UNKNOWN: Identity = { kind: 'unknown' }

/**
 * Share of KEY_CACHE_MS after which a request answered from the cache also renews the lookup in the background:
 * under steady traffic a key's lookup never expires, so no request waits for it (a key's concurrent requests all
 * missing the cache at once would each take a pool connection for the same lookup).
 */
const REFRESH_AHEAD = 0.75

/** What the primary said of a token, or why it could not say (a resolve then falls back on the last lookup). */
type Lookup = { identity: Identity } | { error: unknown }
const unverified = ({ error }: { error: unknown }): Identity => ({ kind: 'unverified', error })

/** A cached lookup: what it said, when it was asked (a later answer replaces an earlier one, never the reverse). */
interface KnownKey {
  identity: Identity
  askedAt: number
}

/**
 * Resolves Authorization headers to identities, once per request, through one bounded cache of key lookups
 * (known and unknown tokens alike, so made-up keys do not reach the database each time). Failed lookups are
 * not kept. Concurrent lookups of one token from the cache's side are one query; what a key grants (verify) is
 * always a query of its own.
 */
export class Identities {
  private readonly known: BoundedMap<string, KnownKey>
  private readonly pending = new Map<string, Promise<Lookup>>()
  /** When a key was last forgotten: a lookup asked before then is answered but not kept (it may predate the revocation). */
  private forgottenAt = 0

  constructor(
    private readonly db: () => Queryable,
    max = KEY_CACHE_MAX,
    private readonly ttlMs = KEY_CACHE_MS,
    private readonly staleMs = KEY_STALE_MS
  ) {
    this.known = new BoundedMap(max)
  }

  /** At once from the cache, unless the key must be looked up. */
  resolve(header: string | undefined): Identity | Promise<Identity> {
    const resolved = this.admit(header)
    return resolved instanceof Promise ? resolved.then((r) => r.identity) : resolved
  }

  /**
   * As resolve, for a request that has just arrived: when it waited for a lookup, `asked` says whether the answer
   * counts as the primary's word for this request: not when the lookup was already running for another request
   * and found a key (it may predate a revocation this request follows).
   */
  admit(header: string | undefined): Identity | Promise<{ identity: Identity; asked: boolean }> {
    const token = this.token(header)
    if (typeof token !== 'string') return token
    const known = this.known.get(token)
    const age = known ? Date.now() - known.askedAt : Infinity
    if (known && age < this.ttlMs) {
      if (age >= this.ttlMs * REFRESH_AHEAD && !this.pending.has(token)) void this.shared(token)
      return known.identity
    }
    const stale = known && age < this.ttlMs + this.staleMs ? known.identity : undefined
    const sentHere = !this.pending.has(token)
    return this.shared(token).then((found) =>
      'identity' in found
        ? { identity: found.identity, asked: sentHere || found.identity.kind !== 'key' }
        : // The primary could not answer: that stands for this request too, without asking again.
          { identity: stale ?? unverified(found), asked: true }
    )
  }

  /** As resolve, always asking the primary (and refreshing the cache): for whatever a key grants. */
  verify(header: string | undefined): Identity | Promise<Identity> {
    const token = this.token(header)
    if (typeof token !== 'string') return token
    return this.lookUp(token).then((found) => ('identity' in found ? found.identity : unverified(found)))
  }

  private token(header: string | undefined): string | Identity {
    if (!header) return ANONYMOUS
    const token = bearerToken(header)
    return !token || token.length > MAX_TOKEN_LENGTH ? MALFORMED : token
  }

  /** Forgets every cached lookup of key `id` (it was just revoked here), and any answer already on its way. */
  forget(id: number): void {
    this.forgottenAt = Date.now()
    for (const [token, { identity }] of this.known.entries())
      if (identity.kind === 'key' && identity.key.id === id) this.known.delete(token)
  }

  /** The lookup of `token` already running for the cache, or a new one. */
  private shared(token: string): Promise<Lookup> {
    const running = this.pending.get(token)
    if (running) return running
    const lookup = this.lookUp(token).finally(() => this.pending.delete(token))
    this.pending.set(token, lookup)
    return lookup
  }

  /** Asks the primary and caches its answer. */
  private async lookUp(token: string): Promise<Lookup> {
    const askedAt = Date.now()
    let identity: Identity
    try {
      const row = await findActiveKey(this.db(), token)
      identity = row ? { kind: 'key', key: row } : UNKNOWN
    } catch (error) {
      return { error }
    }
    const known = this.known.get(token)
    if (askedAt > this.forgottenAt && (!known || known.askedAt <= askedAt)) this.known.set(token, { identity, askedAt })
    return { identity }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    identities: Identities
  }
  interface FastifyRequest {
    /** Who sent the request; resolved in onRequest, before auth and rate limiting read it. */
    identity: Identity
    /** Whether `identity` was looked up on the primary for this request (not taken from the cache). */
    identityVerified: boolean
  }
}

/** Resolves `request.identity` for every request (keys on the primary: a key just created works at once). */
export default fp(
  async (app) => {
    const identities = new Identities(() => app.db.primary)
    app.decorate('identities', identities)
    // Set by the hook below before anything reads it.
    app.decorateRequest('identity', null as never)
    app.decorateRequest('identityVerified', false)
    app.addHook('onRequest', (request, _reply, done) => {
      // The raw URL first: routeOptions is a getter that builds an object, too dear for every request.
      if (UNADMITTED_PREFIX.test(request.url) && isUnadmitted(request.routeOptions.url ?? request.url)) {
        request.identity = ANONYMOUS
        return done()
      }
      const identity = identities.admit(request.headers.authorization)
      if (!(identity instanceof Promise)) {
        request.identity = identity
        return done()
      }
      void identity.then(({ identity, asked }) => {
        request.identity = identity
        request.identityVerified = asked
        done()
      })
    })
  },
  { name: 'identity', dependencies: ['db'] }
)
