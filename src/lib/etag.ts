import { AppError } from '../errors.js'

/** Strong validator derived from the row's identity and version. */
export const etagOf = (id: number, version: number) => `"${id}.${version}"`

function listMatches(header: string, etag: string, weak: boolean): boolean {
  const trimmed = header.trim()
  if (trimmed === '*') return true
  return trimmed.split(',').some((raw) => {
    let tag = raw.trim()
    if (tag.startsWith('W/')) {
      if (!weak) return false // If-Match uses the strong comparison (RFC 9110 §13.1.1)
      tag = tag.slice(2)
    }
    return tag === etag
  })
}

export const ifNoneMatchHits = (header: string | undefined, etag: string) =>
  header !== undefined && listMatches(header, etag, true)

/** Whether `If-Match` is absent or names the current version. */
export const ifMatchHolds = (header: string | undefined, etag: string) =>
  header === undefined || listMatches(header, etag, false)

/** Throws 412 unless `If-Match` (when present) names the current version. */
export function assertIfMatch(header: string | undefined, etag: string): void {
  if (!ifMatchHolds(header, etag)) {
    throw new AppError('PRECONDITION_FAILED', `If-Match does not match the current ETag ${etag}`)
  }
}
