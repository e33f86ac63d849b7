import dgram from 'node:dgram'
import { defer } from '../helper.js'

type Hooks = Parameters<typeof defer>[0]

/**
 * A real DNS server on loopback (UDP) that answers A queries for the names in `records` (RFC 1035 messages), and
 * an empty answer otherwise. Closed after the test.
 */
export async function startDnsServer(t: Hooks, records: Record<string, string>): Promise<string> {
  const socket = dgram.createSocket('udp4')
  socket.on('message', (query, peer) => {
    let offset = 12
    const labels: string[] = []
    while (offset < query.length && query[offset] !== 0) {
      const length = query[offset] as number
      labels.push(query.subarray(offset + 1, offset + 1 + length).toString('ascii'))
      offset += length + 1
    }
    const questionEnd = offset + 5
    const type = query.readUInt16BE(offset + 1)
    const address = type === 1 ? records[labels.join('.').toLowerCase()] : undefined
    const header = Buffer.alloc(12)
    query.copy(header, 0, 0, 2)
    header.writeUInt16BE(0x8180, 2) // a response, recursion desired and available, no error
    header.writeUInt16BE(1, 4)
    header.writeUInt16BE(address ? 1 : 0, 6)
    const parts = [header, query.subarray(12, questionEnd)]
    if (address) {
      const answer = Buffer.alloc(16)
      answer.writeUInt16BE(0xc00c, 0) // the name: a pointer to the question's
      answer.writeUInt16BE(1, 2) // A
      answer.writeUInt16BE(1, 4) // IN
      answer.writeUInt32BE(60, 6) // TTL
      answer.writeUInt16BE(4, 10)
      address.split('.').forEach((octet, i) => answer.writeUInt8(Number(octet), 12 + i))
      parts.push(answer)
    }
    socket.send(Buffer.concat(parts), peer.port, peer.address)
  })
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  defer(t, () => new Promise<void>((resolve) => socket.close(() => resolve())))
  return `127.0.0.1:${socket.address().port}`
}
