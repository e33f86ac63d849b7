import type { FastifyReply } from 'fastify'
import type { Cache, GetOptions } from './cache.js'

/**
 * A response as the cache stores it: `name: value` header lines, an empty line, then the serialized JSON
 * body (which has no raw newline). A hit is sent as these bytes, never parsed and re-serialized.
 */
export function encodeResponse(headers: Record<string, unknown>, serialized: ReturnType<FastifyReply['serialize']>): string {
  const body = typeof serialized === 'string' ? serialized : Buffer.from(serialized as ArrayBuffer).toString('utf8')
  let head = ''
  for (const [name, value] of Object.entries(headers)) if (typeof value === 'string') head += `${name}: ${value}\n`
  return `${head}\n${body}`
}

export function decodeResponse(stored: string): { headers: [string, string][]; body: string } {
  if (stored.charCodeAt(0) === 10) return { headers: [], body: stored.slice(1) }
  const end = stored.indexOf('\n\n')
  const headers: [string, string][] = []
  for (const line of stored.slice(0, end).split('\n')) {
    const colon = line.indexOf(': ')
    headers.push([line.slice(0, colon), line.slice(colon + 2)])
  }
  return { headers, body: stored.slice(end + 2) }
}

/** Sends a stored response; with `ifNoneMatch` given and matching its ETag, a 304. */
export function sendStored(reply: FastifyReply, stored: string, notModified?: (etag: string) => boolean) {
  const { headers, body } = decodeResponse(stored)
  for (const [name, value] of headers) {
    reply.header(name, value)
    if (name === 'etag' && notModified?.(value)) return reply.code(304).send(null)
  }
  return reply.type('application/json; charset=utf-8').send(body)
}

/**
 * Answers from the cache (or straight from `produce` when caching is off): `produce` returns the encoded
 * response (see encodeResponse) and runs only on a miss.
 */
export async function respondCached(
  reply: FastifyReply,
  cache: Cache | null,
  key: string,
  options: GetOptions,
  produce: () => Promise<string>,
  notModified?: (etag: string) => boolean
) {
  const stored = cache ? await cache.get(key, produce, options) : await produce()
  return sendStored(reply, stored, notModified)
}
