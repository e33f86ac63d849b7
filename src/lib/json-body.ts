import type { FastifyRequest } from 'fastify'
import { AppError } from '../errors.js'

/** True when `value` holds, at any depth, an own `__proto__` key or a `constructor` object with a `prototype`. */
function poisonedKey(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return undefined
  const pending: object[] = [value]
  for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
    if (Object.hasOwn(node, '__proto__')) return '__proto__'
    const ctor = (node as Record<string, unknown>).constructor
    if (
      Object.hasOwn(node, 'constructor') &&
      ctor !== null &&
      typeof ctor === 'object' &&
      Object.hasOwn(ctor, 'prototype')
    )
      return 'constructor.prototype'
    for (const child of Object.values(node) as unknown[])
      if (child !== null && typeof child === 'object') pending.push(child)
  }
  return undefined
}

/**
 * The JSON body parser. Like Fastify's own it refuses keys that could reach an object's prototype later
 * (`__proto__`, `constructor.prototype`), but says so: the JSON itself is valid. Bodies that cannot hold such
 * a key (most) are not scanned.
 */
export function parseJsonBody(
  _request: FastifyRequest,
  body: string,
  done: (err: Error | null, value?: unknown) => void
) {
  if (body.length === 0)
    return done(new AppError('MALFORMED_JSON', 'The body is empty although Content-Type is application/json'))
  let value: unknown
  try {
    value = JSON.parse(body)
  } catch (err) {
    return done(new AppError('MALFORMED_JSON', `The body is not valid JSON: ${(err as Error).message}`))
  }
  const key = body.includes('__proto__') || body.includes('prototype') ? poisonedKey(value) : undefined
  if (key) {
    return done(
      new AppError(
        'BAD_REQUEST',
        `The JSON body has a "${key}" key, which is refused: it could change the prototype of the objects built from it`
      )
    )
  }
  done(null, value)
}
