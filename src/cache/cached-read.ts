import type { FastifyReply } from 'fastify'
import type { TSchema } from 'typebox'
import type { ErrorCode } from '../errors.js'
import { encodeResponse, respondCached } from './response.js'
import type { Cache, GetOptions } from './cache.js'
import type { ReadContext } from '../db/read-context.js'
import { etagOf, ifNoneMatchHits } from '../lib/etag.js'
import { withHeaders } from '../lib/openapi/headers.js'
import { paginate } from '../lib/pagination.js'
import { NotModified, Ok, errorResponses } from '../lib/schemas.js'

/**
 * The three shapes of a cached catalog read. Each loader runs only on a cache miss, reading as the fill
 * context allows; a hit sends the bytes stored for the entry.
 */
export interface CachedRead {
  cache: Cache | null
  /** The cache key: the same key must always produce the same answer. */
  key: string
  options: GetOptions
}

/** A versioned entity's read: its ETag and `body`; a current If-None-Match answers 304. */
function readVersioned<T extends { id: number; version: number }>(
  reply: FastifyReply,
  read: CachedRead,
  load: (context: ReadContext) => Promise<T>,
  body: (entity: T) => ReturnType<FastifyReply['serialize']>
) {
  return respondCached(
    reply,
    read.cache,
    read.key,
    read.options,
    async (context) => {
      const entity = await load(context)
      return encodeResponse({ etag: etagOf(entity.id, entity.version) }, body(entity))
    },
    (etag) => ifNoneMatchHits(reply.request.headers['if-none-match'], etag)
  )
}

/** One versioned entity: `{ success, data }` with its ETag; a current If-None-Match answers 304. */
export function readEntity<T extends { id: number; version: number }>(
  reply: FastifyReply,
  read: CachedRead,
  load: (context: ReadContext) => Promise<T>
) {
  return readVersioned(reply, read, load, (entity) => reply.serialize({ success: true as const, data: entity }))
}

/** A keyset page's read: its Link header to the next page and `body` of its items and pagination. */
function readKeysetPage<T>(
  reply: FastifyReply,
  read: CachedRead,
  load: (context: ReadContext) => Promise<{ items: T[]; nextCursor: string | null }>,
  body: (items: T[], pagination: ReturnType<typeof paginate>) => ReturnType<FastifyReply['serialize']>
) {
  return respondCached(reply, read.cache, read.key, read.options, async (context) => {
    const page = await load(context)
    const pagination = paginate(reply.request, reply, page.nextCursor)
    return encodeResponse({ link: reply.getHeader('link') }, body(page.items, pagination))
  })
}

/** One keyset page: `{ success, data, pagination }` with a Link header to the next page. */
export function readPage<T>(
  reply: FastifyReply,
  read: CachedRead,
  load: (context: ReadContext) => Promise<{ items: T[]; nextCursor: string | null }>
) {
  return readKeysetPage(reply, read, load, (data, pagination) =>
    reply.serialize({ success: true as const, data, pagination })
  )
}

/**
 * A read whose entity arrives as its JSON text (a product's document, written as the response schema's
 * serializer writes it): the body is assembled around it, never parsed and serialized again.
 */
export function readDocument(
  reply: FastifyReply,
  read: CachedRead,
  load: (context: ReadContext) => Promise<{ id: number; version: number; json: string }>
) {
  return readVersioned(reply, read, load, (entity) => `{"success":true,"data":${entity.json}}`)
}

/** One keyset page whose items arrive as their JSON texts (see readDocument). */
export function readDocumentPage(
  reply: FastifyReply,
  read: CachedRead,
  load: (context: ReadContext) => Promise<{ items: string[]; nextCursor: string | null }>
) {
  return readKeysetPage(
    reply,
    read,
    load,
    (items, { cursor, hasMore }) =>
      `{"success":true,"data":[${items.join(',')}],"pagination":{"cursor":${JSON.stringify(cursor)},"hasMore":${hasMore}}}`
  )
}

/** Any other value: `{ success, data }`. */
export function readValue<T>(reply: FastifyReply, read: CachedRead, load: (context: ReadContext) => Promise<T>) {
  return respondCached(reply, read.cache, read.key, read.options, async (context) =>
    encodeResponse({}, reply.serialize({ success: true as const, data: await load(context) }))
  )
}

/** The responses of a cached entity read: 200 with its ETag, 304, and the route's own errors. */
export const entityReadResponses = (schema: TSchema, ...codes: ErrorCode[]) => ({
  200: withHeaders(Ok(schema), 'ETag'),
  304: withHeaders(NotModified, 'ETag'),
  ...errorResponses(...codes)
})

/** A write's answer: `{ success, data }` with the entity's ETag (and the status, 200 unless given). */
export function sendVersioned<T extends { id: number; version: number }>(reply: FastifyReply, entity: T, status = 200) {
  reply.code(status).header('etag', etagOf(entity.id, entity.version))
  return { success: true as const, data: entity }
}

/** A create's answer: 201, `Location`, and the new entity with its ETag. */
export function sendCreated<T extends { id: number; version: number }>(
  reply: FastifyReply,
  location: string,
  entity: T
) {
  reply.header('location', location)
  return sendVersioned(reply, entity, 201)
}
