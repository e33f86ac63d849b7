import { randomUUID } from 'node:crypto'

// The first 15 characters of the current millisecond's ids (its 48 bits in 12 hex digits, good until the year
// 10889, and the version), made once per millisecond.
let stampedAt = -1
let prefix = ''

/**
 * A UUID version 7 (RFC 9562 §5.7): the Unix time in milliseconds in its first 48 bits, then the version, and the
 * random bits and variant of a version 4 UUID from `crypto.randomUUID` (which draws from a cached pool of entropy).
 * Ids made later sort after those of earlier milliseconds, so the audit log's index on request ids grows at its
 * end like the others instead of at random places (docs/architecture.md, "Request ids in time order"). Within one
 * millisecond the order is random.
 */
export function requestId(now = Date.now()): string {
  if (now !== stampedAt) {
    stampedAt = now
    const hex = now.toString(16).padStart(12, '0')
    prefix = `${hex.slice(0, 8)}-${hex.slice(8)}-7`
  }
  // randomUUID: xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx; the rest from its 16th character (after the version digit).
  return prefix + randomUUID().slice(15)
}
