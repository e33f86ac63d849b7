import { brotliCompressSync, constants, createBrotliCompress, createGzip, gzipSync } from 'node:zlib'
import type { Transform } from 'node:stream'
import type { FastifyReply } from 'fastify'
import { BoundedMap } from './bounded-map.js'

export type Encoding = 'br' | 'gzip'

/** Bodies smaller than this are sent as they are: compressing them saves less than it costs. */
export const COMPRESSION_THRESHOLD_BYTES = 1024

/**
 * Whether `body` is under the threshold. A text's length in bytes is at least its length in characters, so only a
 * short text is measured: a page of 36 KB is not scanned for its byte length to learn that it is over 1 KB.
 */
export const belowCompressionThreshold = (body: string | Buffer): boolean =>
  body.length < COMPRESSION_THRESHOLD_BYTES &&
  (typeof body !== 'string' || Buffer.byteLength(body) < COMPRESSION_THRESHOLD_BYTES)

// Quality 4 compresses JSON about as well as gzip -9 at a fraction of brotli's default (11) cost.
const BROTLI_OPTIONS = {
  params: { [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT, [constants.BROTLI_PARAM_QUALITY]: 4 }
}

const COMPRESSIBLE = /^(?:text\/|application\/(?:[\w.+-]+\+)?(?:json|javascript|xml)\b|image\/svg\+xml\b)/i

export const isCompressible = (contentType: unknown) =>
  typeof contentType === 'string' && COMPRESSIBLE.test(contentType)

const negotiated = new BoundedMap<string, Encoding | null>(256)

/**
 * The encoding to answer with for an Accept-Encoding header (RFC 9110 §12.5.3): br or gzip, whichever the
 * client weighs higher (br on a tie), never one it gave q=0; `*` covers encodings it did not name and
 * x-gzip is gzip. Undefined: send the body as it is. Clients send few distinct headers, so answers are kept.
 */
export function negotiateEncoding(header: string | undefined): Encoding | undefined {
  if (!header) return undefined
  let known = negotiated.get(header)
  if (known === undefined) {
    known = parseAcceptEncoding(header)
    negotiated.set(header, known)
  }
  return known ?? undefined
}

function parseAcceptEncoding(header: string): Encoding | null {
  let br: number | undefined
  let gzip: number | undefined
  let any: number | undefined
  for (const item of header.toLowerCase().split(',')) {
    const [token = '', ...params] = item.split(';').map((part) => part.trim())
    let q = 1
    for (const param of params) {
      const match = /^q=([01](?:\.\d{0,3})?)$/.exec(param)
      if (match) q = Number(match[1])
    }
    if (token === 'br') br = q
    else if (token === 'gzip' || token === 'x-gzip') gzip = Math.max(gzip ?? 0, q)
    else if (token === '*') any = q
  }
  const brQ = br ?? any ?? 0
  const gzipQ = gzip ?? any ?? 0
  if (brQ <= 0 && gzipQ <= 0) return null
  return brQ >= gzipQ ? 'br' : 'gzip'
}

export function compressBody(body: Buffer | string, encoding: Encoding): Buffer {
  return encoding === 'br' ? brotliCompressSync(body, BROTLI_OPTIONS) : gzipSync(body)
}

export function compressStream(encoding: Encoding): Transform {
  return encoding === 'br' ? createBrotliCompress(BROTLI_OPTIONS) : createGzip()
}

/** Adds Accept-Encoding to Vary, keeping what other parts (CORS: Origin) put there. */
export function varyOnEncoding(reply: FastifyReply): void {
  const current = reply.getHeader('vary')
  if (current === undefined) {
    reply.header('vary', 'Accept-Encoding')
    return
  }
  const value = Array.isArray(current) ? current.join(', ') : String(current)
  if (!/(?:^|,)\s*(?:accept-encoding|\*)\s*(?:,|$)/i.test(value)) reply.header('vary', `${value}, Accept-Encoding`)
}
