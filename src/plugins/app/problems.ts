import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import FindMyWay, { type HTTPMethod } from 'find-my-way'
import fp from 'fastify-plugin'
import { databaseFault } from '../../db/errors.js'
import { MAX_FIELD_ERRORS, NAME_PATTERN, TEXT_PATTERN } from '../../lib/schemas.js'
import { reportError } from '../../lib/sentry.js'
import { AppError, ERRORS, type ErrorCode, type FieldError, problemType } from '../../errors.js'

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8'

interface ValidationIssue {
  instancePath: string
  keyword: string
  message?: string
  params: Record<string, unknown>
}

/** Names the field an Ajv error is about: the property path, or the missing / unexpected property. */
function fieldOf(issue: ValidationIssue): string {
  const path = issue.instancePath.replace(/^\//, '').replaceAll('/', '.')
  const child = (issue.params.missingProperty ?? issue.params.additionalProperty) as string | undefined
  if (child !== undefined) return path ? `${path}.${child}` : child
  return path
}

function messageOf(issue: ValidationIssue): string {
  if (issue.keyword === 'additionalProperties') return 'is not a known field'
  if (issue.keyword === 'required') return 'is required'
  if (issue.keyword === 'pattern' && issue.params.pattern === TEXT_PATTERN)
    return 'must not contain NUL or unpaired surrogate characters'
  if (issue.keyword === 'pattern' && issue.params.pattern === NAME_PATTERN) {
    return 'must have a visible character and no NUL or unpaired surrogate characters'
  }
  return issue.message ?? 'is invalid'
}

export function validationFieldErrors(issues: ValidationIssue[], part?: string): FieldError[] {
  const byField = new Map<string, string>()
  for (const issue of issues) {
    // Unions report one error per branch; the first one per field is enough to act on.
    const field = fieldOf(issue) || part || 'body'
    if (!byField.has(field)) {
      // A hostile body can fail thousands of fields; the answer names the first MAX_FIELD_ERRORS of them.
      if (byField.size === MAX_FIELD_ERRORS) break
      byField.set(field, messageOf(issue))
    }
  }
  return [...byField].map(([field, message]) => ({ field, message }))
}

// Errors Fastify raises itself, by code → our catalog code.
const FRAMEWORK_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_MAX_PARAM_LENGTH: 'URI_TOO_LONG',
  FST_ERR_BAD_URL: 'BAD_REQUEST'
}

/** Turns any thrown value into an AppError; unknown errors become 500 INTERNAL without their message. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err
  const fe = err as FastifyError & { validation?: ValidationIssue[]; validationContext?: string }
  if (fe?.validation) {
    const errors = validationFieldErrors(fe.validation, fe.validationContext)
    return new AppError('VALIDATION_FAILED', errors.map((e) => `${e.field} ${e.message}`).join('; '), errors)
  }
  const mapped = fe?.code ? FRAMEWORK_CODES[fe.code] : undefined
  if (mapped) return new AppError(mapped, fe.message)
  if (fe instanceof SyntaxError) return new AppError('MALFORMED_JSON', 'The body is not valid JSON')
  const fault = databaseFault(err)
  if (fault) return fault
  const status = typeof fe?.statusCode === 'number' ? fe.statusCode : 500
  if (status >= 400 && status < 500) return new AppError('BAD_REQUEST', fe.message)
  if (status === 503)
    return new AppError('SERVICE_UNAVAILABLE', 'The service is temporarily unavailable', undefined, {
      'retry-after': '1'
    })
  return new AppError('INTERNAL', 'An unexpected error occurred; it has been logged with this request id')
}

export function problemBody(error: AppError, requestId: string, instance?: string) {
  return {
    success: false as const,
    type: problemType(error.code),
    title: error.title,
    status: error.status,
    detail: error.message,
    code: error.code,
    requestId,
    ...(instance ? { instance } : {}),
    ...(error.errors ? { errors: error.errors } : {}),
    ...error.extensions
  }
}

/** Sends `error` as RFC 9457 problem+json; also usable where no route context exists (framework errors). */
export function sendProblem(request: FastifyRequest, reply: FastifyReply, error: AppError) {
  request.server.metrics?.errors.inc({ code: error.code })
  request.errorCode = error.code
  if (error.headers) reply.headers(error.headers)
  reply.header('x-request-id', request.id)
  // Also here: a framework error (414) is sent without the onSend hooks that set it elsewhere.
  reply.header('cache-control', 'private, no-store')
  const path = request.url.split('?')[0]
  return reply
    .code(error.status)
    .type(PROBLEM_CONTENT_TYPE)
    .send(JSON.stringify(problemBody(error, request.id, path)))
}

const ROUTABLE: HTTPMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']

declare module 'fastify' {
  interface FastifyRequest {
    /** The code of the problem this request was answered with, for its log line; null until one is sent. */
    errorCode: ErrorCode | null
  }
}

export default fp(
  async (app) => {
    app.decorateRequest('errorCode', null)
    const handle = (err: unknown, request: FastifyRequest, reply: FastifyReply) => {
      const error = toAppError(err)
      if (error.status >= 500) {
        request.log.error({ err, code: error.code }, 'request failed')
        reportError(err, { requestId: request.id, route: request.routeOptions.url, method: request.method })
      } else request.log.info({ code: error.code, detail: error.message }, 'request rejected')
      sendProblem(request, reply, error)
    }
    app.setErrorHandler((err, request, reply) => {
      const admission = request.admission
      if (!admission) return handle(err, request, reply)
      // A pending admission comes first (see the rate-limit plugin): a refused request gets its 429, and every
      // answer carries the RateLimit headers.
      request.admission = null
      return admission.then(
        () => handle(err, request, reply),
        (refusal: unknown) => handle(refusal, request, reply)
      )
    })
    // A second router that knows every path and its methods, to tell 405 (path exists) from 404.
    const methodsByPath = FindMyWay()
    const noop = () => {}
    app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) {
        if (method !== 'HEAD' && method !== 'OPTIONS')
          methodsByPath.on(method as HTTPMethod, route.url ?? route.path, noop)
      }
    })
    app.setNotFoundHandler((request, reply) => {
      const path = request.url.split('?')[0] ?? '/'
      const allowed = ROUTABLE.filter((m) => methodsByPath.find(m, path) !== null)
      if (allowed.length) {
        reply.header('allow', [...allowed, ...(allowed.includes('GET') ? ['HEAD'] : [])].join(', '))
        return sendProblem(
          request,
          reply,
          new AppError('METHOD_NOT_ALLOWED', `${request.method} is not supported on ${path}`)
        )
      }
      return sendProblem(request, reply, new AppError('ROUTE_NOT_FOUND', `No route ${request.method} ${path}`))
    })
    app.get('/problems', { schema: { hide: true } }, async () =>
      Object.entries(ERRORS).map(([code, e]) => ({ code, type: problemType(code), status: e.status, title: e.title }))
    )
  },
  { name: 'problems' }
)
