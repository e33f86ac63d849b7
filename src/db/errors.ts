import { AppError } from '../errors.js'

interface PgLikeError {
  code?: string
  message?: string
  constraint?: string
}

// SQLSTATEs that mean "the database cannot serve right now", not "your request is wrong".
const UNAVAILABLE_CODES = new Set(['57P01', '57P02', '57P03', '53300', '53400', '25006', '55P03'])

// Either answer tells the client to come back in a second.
const RETRY_SOON = Object.freeze({ 'retry-after': '1' })

/**
 * Maps infrastructure failures of PostgreSQL and pg-pool to 503/504 with Retry-After.
 * Returns undefined for errors that are not database availability problems.
 */
export function databaseFault(err: unknown): AppError | undefined {
  if (!err || typeof err !== 'object') return undefined
  const e = err as PgLikeError
  const code = typeof e.code === 'string' ? e.code : ''
  const message = typeof e.message === 'string' ? e.message : ''
  if (code === '57014' || message === 'Query read timeout') {
    return new AppError('DATABASE_TIMEOUT', 'The database did not answer in time', undefined, RETRY_SOON)
  }
  if (
    code.startsWith('08') ||
    UNAVAILABLE_CODES.has(code) ||
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN'].includes(code) ||
    message.includes('timeout exceeded when trying to connect') ||
    message.includes('Connection terminated') ||
    message.includes('Client has encountered a connection error') ||
    message.includes('Cannot use a pool after calling end')
  ) {
    return databaseUnavailable()
  }
  return undefined
}

/** 503 DATABASE_UNAVAILABLE with Retry-After: what a request gets when the database cannot serve it now. */
export const databaseUnavailable = () =>
  new AppError('DATABASE_UNAVAILABLE', 'The database is unavailable; retry shortly', undefined, RETRY_SOON)

export const isUniqueViolation = (err: unknown, constraint?: string) =>
  (err as PgLikeError)?.code === '23505' && (constraint === undefined || (err as PgLikeError).constraint === constraint)

export const isForeignKeyViolation = (err: unknown, constraint?: string) =>
  (err as PgLikeError)?.code === '23503' && (constraint === undefined || (err as PgLikeError).constraint === constraint)
