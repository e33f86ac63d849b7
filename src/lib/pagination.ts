import type { FastifyReply, FastifyRequest } from 'fastify'

/** Sets `Link: <…>; rel="next"` (RFC 8288) for the page after this one, and returns the envelope's pagination. */
export function paginate(request: FastifyRequest, reply: FastifyReply, nextCursor: string | null) {
  if (nextCursor !== null) {
    const url = new URL(request.url, 'http://localhost')
    url.searchParams.set('cursor', nextCursor)
    reply.header('link', `<${url.pathname}${url.search}>; rel="next"`)
  }
  return { cursor: nextCursor, hasMore: nextCursor !== null }
}
