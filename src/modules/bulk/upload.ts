import type { Readable } from 'node:stream'
import { AppError } from '../../errors.js'

/**
 * An import's request body as chunks, read for as long as bytes keep coming: waiting longer than `idleMs` for the
 * next chunk fails the read with REQUEST_TIMEOUT (slow-loris protection in place of REQUEST_TIMEOUT_MS). Only
 * the wait for the client counts: while the import writes a batch the body is not read, and the clock is stopped.
 * The stream is not destroyed when reading stops early, so an answer can still go out on the connection.
 */
export function idleBounded(body: Readable, idleMs: number): AsyncIterable<Buffer> {
  const chunks = body.iterator({ destroyOnReturn: false }) as AsyncIterator<Buffer>
  if (idleMs <= 0) return { [Symbol.asyncIterator]: () => chunks }
  return {
    [Symbol.asyncIterator]: () => ({
      next: async () => {
        let timer: NodeJS.Timeout | undefined
        const idle = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new AppError('REQUEST_TIMEOUT', `No byte of the body arrived for ${idleMs} ms: the import is stopped`)
              ),
            idleMs
          )
        })
        // The read left pending when the clock wins settles when the connection closes; race() handles it.
        return Promise.race([chunks.next(), idle]).finally(() => clearTimeout(timer))
      },
      return: async () => (chunks.return ? chunks.return() : { done: true as const, value: undefined })
    })
  }
}
