import { createHash } from 'node:crypto'
import type { RedisClient } from './connection.js'

/**
 * A Lua script: sent as EVALSHA, and as EVAL (which loads it) when the server does not know it (a restarted,
 * flushed or failed-over Redis). Lighter per call than ioredis's defineCommand, which makes a command subclass
 * instance with its own closures for every call.
 */
export class LuaScript {
  private readonly sha: string

  constructor(private readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex')
  }

  run<T>(client: RedisClient, keys: string[], args: (string | number)[]): Promise<T> {
    return (client.evalsha(this.sha, keys.length, ...keys, ...args) as Promise<T>).catch((err: unknown) => {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err
      return client.eval(this.lua, keys.length, ...keys, ...args) as Promise<T>
    })
  }
}
