import { createHmac, timingSafeEqual } from 'node:crypto'
import { AppError } from '../errors.js'

/**
 * Opaque keyset cursors: `base64url(json).base64url(hmac)`. The MAC binds the position to the sort it
 * belongs to, so a cursor that was edited, comes from another sort or was not issued here is refused.
 */
export type CursorKey = readonly (string | number)[]

export interface CursorCodec {
  encode(sort: string, key: CursorKey): string
  decode(sort: string, cursor: string): CursorKey
}

const MAC_BYTES = 16

export function createCursorCodec(secret: string, scope: string): CursorCodec {
  const mac = (payload: string) =>
    createHmac('sha256', secret).update(scope).update('\n').update(payload).digest().subarray(0, MAC_BYTES)
  const invalid = (why: string) => new AppError('INVALID_CURSOR', `cursor ${why}`, [{ field: 'cursor', message: why }])

  return {
    encode(sort, key) {
      const payload = Buffer.from(JSON.stringify({ s: sort, k: key })).toString('base64url')
      return `${payload}.${mac(payload).toString('base64url')}`
    },
    decode(sort, cursor) {
      const [payload, signature, extra] = cursor.split('.')
      if (!payload || !signature || extra !== undefined) throw invalid('is malformed')
      const given = Buffer.from(signature, 'base64url')
      const expected = mac(payload)
      if (given.length !== expected.length || !timingSafeEqual(given, expected))
        throw invalid('was not issued by this API or was altered')
      let parsed: { s?: unknown; k?: unknown }
      try {
        parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { s?: unknown; k?: unknown }
      } catch {
        throw invalid('is malformed')
      }
      if (parsed.s !== sort) throw invalid(`belongs to sort "${String(parsed.s)}", not "${sort}"`)
      if (!Array.isArray(parsed.k) || !parsed.k.every((v) => typeof v === 'string' || typeof v === 'number')) {
        throw invalid('is malformed')
      }
      return parsed.k
    }
  }
}
