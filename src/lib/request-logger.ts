import type { FastifyBaseLogger, LogLevel } from 'fastify'

type Bindings = Parameters<FastifyBaseLogger['child']>[0]
type ChildLoggerOptions = NonNullable<Parameters<FastifyBaseLogger['child']>[1]>

type Level = Exclude<LogLevel, 'silent'>
type PinoLike = FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean }

/**
 * A request's logger that becomes a real child (with the request id bound) only when something is written at
 * an enabled level. Making a pino child serializes its bindings, which costs more than everything else a
 * request does with its logger when the level (e.g. warn) writes nothing for a successful request.
 */
class RequestLogger implements FastifyBaseLogger {
  private made: FastifyBaseLogger | undefined

  constructor(
    private readonly parent: PinoLike,
    private readonly bindings: Bindings
  ) {}

  private get logger(): FastifyBaseLogger {
    this.made ??= this.parent.child(this.bindings)
    return this.made
  }

  get level(): string {
    return this.made ? this.made.level : this.parent.level
  }

  set level(level: string) {
    this.logger.level = level
  }

  isLevelEnabled(level: string): boolean {
    const logger = (this.made ?? this.parent) as PinoLike
    return logger.isLevelEnabled ? logger.isLevelEnabled(level) : true
  }

  private write(level: Level, args: unknown[]): void {
    if (!this.made && !this.isLevelEnabled(level)) return
    Reflect.apply(this.logger[level], this.logger, args)
  }

  fatal(...args: unknown[]): void {
    this.write('fatal', args)
  }

  error(...args: unknown[]): void {
    this.write('error', args)
  }

  warn(...args: unknown[]): void {
    this.write('warn', args)
  }

  info(...args: unknown[]): void {
    this.write('info', args)
  }

  debug(...args: unknown[]): void {
    this.write('debug', args)
  }

  trace(...args: unknown[]): void {
    this.write('trace', args)
  }

  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.logger.child(bindings, options)
  }
}

/** Fastify's childLoggerFactory: a lazy child per request; a route with its own log level gets a real one at once. */
export function lazyChildLogger(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions
): FastifyBaseLogger {
  if (options.level !== undefined || options.serializers !== undefined) return logger.child(bindings, options)
  return new RequestLogger(logger, bindings)
}
