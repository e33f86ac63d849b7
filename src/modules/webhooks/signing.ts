import { createHmac, randomBytes } from 'node:crypto'

// Standard Webhooks (https://www.standardwebhooks.com/): the secret is `whsec_` + base64 of the key bytes; a
// signature is `v1,` + base64 HMAC-SHA256 over `${id}.${timestamp}.${body}`; several are separated by spaces.
const PREFIX = 'whsec_'

export const newSecret = () => `${PREFIX}${randomBytes(24).toString('base64')}`

export function sign(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.slice(PREFIX.length), 'base64')
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`
}

/** The three headers of a delivery, signed with every secret given (the current one and, after a rotation, the old). */
export function signedHeaders(secrets: string[], id: string, body: string, now = new Date()): Record<string, string> {
  const timestamp = Math.floor(now.getTime() / 1000)
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((s) => sign(s, id, timestamp, body)).join(' ')
  }
}
