/**
 * What a production deployment sets beyond the defaults, for the .env.production template
 * (`npm run -s config:docs -- --production > .env.production`). A `value` is written as is; a `secret` is
 * written empty: its value comes from the secret store (on AWS, Secrets Manager entries injected as ECS
 * secrets) and never from a file in the repository. `required` ones must be set for the service to be useful.
 */
export interface ProductionSetting {
  value?: string
  secret?: true
  required?: true
  note: string
}

export const PRODUCTION_SETTINGS: Record<string, ProductionSetting> = {
  NODE_ENV: { value: 'production', note: 'production: CURSOR_SECRET becomes mandatory, traces sampled at 0.1' },
  DB_HOST: { required: true, note: 'the RDS primary endpoint; set, so the embedded PostgreSQL is never used' },
  DB_USER: { required: true, note: 'from the database secret (username)' },
  DB_PASSWORD: { secret: true, required: true, note: 'from the database secret (password)' },
  DB_SSL: { value: 'true', note: 'RDS forces TLS' },
  DB_READ_REPLICA_HOST: { note: 'the read replica endpoint(s), when there are replicas' },
  MIGRATE_ON_STARTUP: {
    value: 'false',
    note: 'migrations run once per deployment as a one-off task (npm run migrate), not in every instance'
  },
  SEED_ON_STARTUP: { value: 'false', note: 'never the demo catalog in production' },
  REDIS_URL: {
    secret: true,
    note: 'rediss://:AUTH_TOKEN@primary-endpoint:6379 (holds the AUTH token, so it is a secret)'
  },
  CURSOR_SECRET: { secret: true, required: true, note: 'the same long random value on every instance' },
  BOOTSTRAP_ADMIN_API_KEY: {
    secret: true,
    note: 'an admin key registered at start; or create keys with npm run apikey'
  },
  SENTRY_DSN: { secret: true, note: 'from the Sentry project settings' },
  METRICS_TOKEN: { secret: true, note: 'bearer token Prometheus sends to /metrics' },
  TRUST_PROXY: { value: '1', note: 'one ALB in front' },
  SHUTDOWN_DRAIN_MS: { value: '30000', note: "the target group's deregistration delay" }
}
