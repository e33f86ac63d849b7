import { Redis } from 'ioredis'

/**
 * Deletes every key under `prefix` (entries and the `{prefix…}` hash-tagged tag versions). For the bench
 * and the tests, which own their prefix; the API itself never scans the keyspace.
 */
export async function removeRedisKeys(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 })
  try {
    for (const match of [`${prefix}*`, `{${prefix}*`]) {
      let cursor = '0'
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', match, 'COUNT', 1000)
        cursor = next
        if (keys.length) await client.del(...keys)
      } while (cursor !== '0')
    }
  } finally {
    client.disconnect()
  }
}
