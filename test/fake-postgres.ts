import { createServer, type Socket } from 'node:net'
import { defer } from './helper.js'

type Hooks = Parameters<typeof defer>[0]

/**
 * A server that answers every PostgreSQL startup with a FATAL ErrorResponse carrying `code` — what a real
 * server sends while starting up (57P03) or when max_connections is used up (53300), states hard to hold
 * a real server in for the length of a test.
 */
export async function refusingPostgres(t: Hooks, code: string, message: string): Promise<number> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
    socket.once('data', () => {
      const fields = Buffer.from(`SFATAL\0VFATAL\0C${code}\0M${message}\0\0`, 'utf8')
      const header = Buffer.alloc(5)
      header.write('E', 0, 'ascii')
      header.writeInt32BE(fields.length + 4, 1)
      socket.end(Buffer.concat([header, fields]))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  defer(t, async () => {
    for (const s of sockets) s.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  const address = server.address()
  if (!address || typeof address === 'string') throw new Error('no port')
  return address.port
}
