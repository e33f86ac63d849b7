/**
 * The numbers the stack, the app's environment and the docs must agree on. The app's own defaults live in
 * src/config.ts; the task definition sets these values explicitly so the two cannot drift apart silently.
 */

/** The port the API listens on in the container (PORT). */
export const APP_PORT = 5000

/** Fargate size of one task, as in the seed: 0.5 vCPU, 1 GB. */
export const TASK_CPU = 512
export const TASK_MEMORY_MIB = 1024
export const MIN_TASKS = 3
export const MAX_TASKS = 10

/** Auto scaling targets: average CPU of the service, and ALB requests per task per minute. */
export const SCALE_CPU_PERCENT = 60
export const SCALE_REQUESTS_PER_TARGET = 6000

/**
 * Shutdown: after SIGTERM the app keeps serving for SHUTDOWN_DRAIN_MS while the ALB stops routing to it, then
 * closes within SHUTDOWN_TIMEOUT_MS (which bounds the whole stop, drain included). The target group's
 * deregistration delay equals the drain; ECS's stopTimeout (SIGKILL) must come after both.
 */
export const SHUTDOWN_DRAIN_MS = 20_000
export const SHUTDOWN_TIMEOUT_MS = 60_000
export const DEREGISTRATION_DELAY_SECONDS = SHUTDOWN_DRAIN_MS / 1000
export const STOP_TIMEOUT_SECONDS = 90 // Fargate allows at most 120

/** The ALB closes idle connections after 60 s; the app keeps them longer, so the ALB always closes first. */
export const ALB_IDLE_TIMEOUT_SECONDS = 60
export const KEEP_ALIVE_TIMEOUT_MS = 72_000

/**
 * The root filesystem is read-only; /tmp is a task volume. The task's init container (root, before the app starts)
 * makes it world-writable with the sticky bit and puts the RDS CA bundle there, which DB_SSL_CA_FILE points at.
 */
export const TMP_DIR = '/tmp'
export const RDS_CA_FILE = '/tmp/rds-global-bundle.pem'
export const RDS_CA_URL = 'https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem'

/** The seed's p95 targets, in seconds (ALB TargetResponseTime is in seconds). */
export const LATENCY_TARGETS = { cachedRead: 0.05, uncachedRead: 0.2, write: 0.3 }

export const DB_NAME = 'ecommerce'
export const DB_USER = 'catalog'
export const DB_PORT = 5432
export const REDIS_PORT = 6379
export const LOG_RETENTION_DAYS = 30
export const BACKUP_RETENTION_DAYS = 7
export const SECRET_ROTATION_DAYS = 30

/** WAF: requests per 5 minutes from one IP before it is blocked (well above the app's own per-client limits). */
export const WAF_RATE_LIMIT_PER_5_MIN = 2000
