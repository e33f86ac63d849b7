import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Config } from './config.js'
import type { PreparedDatabase } from './bootstrap.js'
import { replicaHosts } from './plugins/app/db.js'
import { projectRoot } from './lib/project-root.js'

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

/** Host and port of a Redis URL: credentials never reach the log. */
function redisEndpoint(config: Config): string | undefined {
  if (config.REDIS_CLUSTER_NODES) return config.REDIS_CLUSTER_NODES
  if (!config.REDIS_URL) return undefined
  const url = new URL(config.REDIS_URL)
  return `${url.protocol}//${url.host}`
}

/**
 * What this process runs with and connected to, as one log line: version, environment, database, replicas,
 * Redis (and why it is not reachable), and the cache and rate-limit backends that follow from them.
 */
export function startupSummary(app: FastifyInstance, config: Config, database: PreparedDatabase) {
  const redis = app.redis
  const shared = redis !== null
  return {
    version: version(),
    nodeEnv: config.NODE_ENV,
    listen: `${config.HOST}:${config.PORT}`,
    database: {
      host: database.target.host,
      port: database.target.port,
      name: database.target.database,
      user: database.target.user,
      tls: config.DB_SSL,
      ...(database.embedded
        ? { embedded: true, dataDir: database.embedded.dataDir, binaries: database.embedded.binDir }
        : {})
    },
    replicas: replicaHosts(config.DB_READ_REPLICA_HOST).map((host) => `${host}:${config.DB_READ_REPLICA_PORT}`),
    redis: redis
      ? {
          mode: config.REDIS_CLUSTER_NODES ? 'cluster' : 'single',
          endpoint: redisEndpoint(config),
          reachable: redis.available(),
          ...(redis.available() ? {} : { error: redis.lastError ?? 'no answer yet' })
        }
      : { mode: 'off' },
    cache: config.CACHE_ENABLED ? (shared ? 'redis, with an in-process copy' : 'in-process') : 'off',
    rateLimit: config.RATE_LIMIT_ENABLED ? (shared ? 'redis (in-process while it is down)' : 'in-process') : 'off'
  }
}
