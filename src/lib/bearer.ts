// RFC 9110 §11.1: the auth scheme is case-insensitive ("bearer", "BEARER"); the token (RFC 6750 b64token) is not.
const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export const bearerToken = (header: string | undefined): string | undefined =>
  header ? BEARER.exec(header)?.[1] : undefined
