import type { FastifyReply } from 'fastify'
import { readContextOf } from '../db/read-context.js'
import {
  belowCompressionThreshold,
  compressBody,
  type Encoding,
  negotiateEncoding,
  varyOnEncoding
} from '../lib/compression.js'
import type { Cache, GetOptions, Loader } from './cache.js'

/**
 * A response as the cache stores it: `name: value` header lines, an empty line, then the serialized JSON
 * body (which has no raw newline). A hit is sent as these bytes, never parsed and re-serialized.
 */
export function encodeResponse(
  headers: Record<string, unknown>,
  serialized: ReturnType<FastifyReply['serialize']>
): string {
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

interface StoredResponse {
  headers: [string, string][]
  /**
   * Bytes when the response is kept for further hits; the decoded text when it is sent once (no cache), which
   * the socket write encodes without a Buffer of its own on the heap.
   */
  body: Buffer | string
  /** The body compressed, per encoding, made when first asked for: kept with the entry for its next hits. */
  compressed: Partial<Record<Encoding, Buffer>>
}

const toStored = (stored: string): StoredResponse => {
  const { headers, body } = decodeResponse(stored)
  return { headers, body: Buffer.from(body, 'utf8'), compressed: {} }
}

/** Sends a stored response; a 304 when `notModified` accepts its ETag. */
export function sendStored(reply: FastifyReply, stored: StoredResponse, notModified?: (etag: string) => boolean) {
  for (const [name, value] of stored.headers) {
    reply.header(name, value)
    // RFC 9110 §15.4.5: a 304 has no body, so no Content-Type or Content-Length of one (send() with nothing).
    if (name === 'etag' && notModified?.(value)) return reply.code(304).removeHeader('content-type').send()
  }
  reply.type('application/json; charset=utf-8')
  // Compressed here rather than by the compression plugin's onSend, which passes a body with a Content-Encoding.
  const { body } = stored
  if (belowCompressionThreshold(body)) return reply.send(body)
  varyOnEncoding(reply)
  const encoding = negotiateEncoding(reply.request.headers['accept-encoding'])
  if (!encoding) return reply.send(body)
  const compressed = (stored.compressed[encoding] ??= compressBody(body, encoding))
  return reply.header('content-encoding', encoding).header('content-length', compressed.length).send(compressed)
}

/**
 * Answers from the cache (or straight from `produce` when caching is off): `produce` returns the encoded
 * response (see encodeResponse) and runs only on a miss, reading as the cache's fill context allows (or,
 * without a cache, as the request's consistency token asks). A hit sends bytes prepared once per entry.
 */
export async function respondCached(
  reply: FastifyReply,
  cache: Cache | null,
  key: string,
  options: GetOptions,
  produce: Loader,
  notModified?: (etag: string) => boolean
) {
  // The lookup starts at once (it may share a Redis call with the request's admission); loading and answering
  // wait for the request to be admitted (see request.admitted).
  const { request } = reply
  if (!cache) {
    request.cacheResult = 'bypass'
    await request.admitted()
    const { headers, body } = decodeResponse(await produce(readContextOf(request.headers)))
    return sendStored(reply, { headers, body, compressed: {} }, notModified)
  }
  const beforeLoad = () => request.admitted()
  const stored = await cache.getView(key, produce, { ...options, beforeLoad }, toStored, request)
  await request.admitted()
  return sendStored(reply, stored, notModified)
}
