import { requestId } from '../../lib/request-id.js'
import type { Duplex } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from '../../errors.js'
import { PROBLEM_CONTENT_TYPE, problemBody, sendProblem, toAppError } from './problems.js'
import { API_CSP, securityHeaders } from '../external/helmet.js'
import { PRIVATE } from './cache-control.js'

// The headers every API answer carries, for answers that no hook sees.
const FIXED_HEADERS: [string, string][] = [...securityHeaders(), ['content-security-policy', API_CSP]]

/**
 * Fastify's frameworkErrors (a bad URL, an over-long path parameter): answered outside any route, so
 * without hooks. They get the security headers and are counted like every other answer.
 */
export function sendFrameworkError(err: Error, request: FastifyRequest, reply: FastifyReply) {
  for (const [name, value] of FIXED_HEADERS) reply.header(name, value)
  const error = toAppError(err)
  request.server.metrics?.countUnrouted(request.method, error.status)
  sendProblem(request, reply, error)
}

const answered = new WeakSet<Duplex>()

function parserError(err: NodeJS.ErrnoException & { reason?: string }): AppError {
  if (err.code === 'HPE_HEADER_OVERFLOW')
    return new AppError('HEADERS_TOO_LARGE', 'The request headers are larger than this server accepts')
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return new AppError('REQUEST_TIMEOUT', 'The request did not arrive completely within the time allowed')
  return new AppError('BAD_REQUEST', `The request is not valid HTTP: ${err.reason ?? err.code ?? err.message}`)
}

/**
 * Node's HTTP parser rejects some requests before Fastify sees them (a bare CR or LF in a header, headers
 * over the size limit, a request that never completed): Node's `clientError` event. They are answered as
 * problem+json with the same headers as every other error, a request id, and the connection closed.
 */
export function clientErrorHandler(
  this: FastifyInstance,
  err: NodeJS.ErrnoException & { reason?: string },
  socket: Duplex
) {
  // The client went away: nobody to answer. A second parser error on a socket already answered: just close it.
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  if (answered.has(socket)) return void socket.destroy()
  answered.add(socket)
  const error = parserError(err)
  const id = requestId()
  const body = JSON.stringify(problemBody(error, id))
  const headers = [
    `HTTP/1.1 ${error.status} ${error.title}`,
    `content-type: ${PROBLEM_CONTENT_TYPE}`,
    `content-length: ${Buffer.byteLength(body)}`,
    'connection: close',
    `date: ${new Date().toUTCString()}`,
    `cache-control: ${PRIVATE}`,
    `x-request-id: ${id}`,
    ...FIXED_HEADERS.map(([name, value]) => `${name}: ${value}`)
  ]
  this.metrics?.countUnrouted('unknown', error.status)
  this.metrics?.errors.inc({ code: error.code })
  this.log.info({ reqId: id, code: error.code, parserError: err.code }, 'request rejected by the HTTP parser')
  if (socket.writable) socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`)
  // Whatever the client still sends is not read: close for good once the answer is out (or at the latest soon).
  const timer = setTimeout(() => socket.destroy(), 1000)
  timer.unref()
  socket.once('close', () => clearTimeout(timer))
}
