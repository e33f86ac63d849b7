export type BreakerState = 'closed' | 'open'

export interface BreakerOptions {
  /** Failures within `windowMs` that open the breaker. */
  failureThreshold: number
  windowMs: number
  /** While open, a background probe runs this often; a passing probe closes the breaker. */
  probeIntervalMs: number
}

/**
 * Stops requests from paying Redis's command timeout one after another: after `failureThreshold` failures
 * within `windowMs` it opens, and while open nothing is sent. Half-open is a background probe, never a
 * request: requests keep their fallback until `probe` succeeds.
 */
export class CircuitBreaker {
  private failures: number[] = []
  private timer: NodeJS.Timeout | undefined
  private probing = false
  private stopped = false
  state: BreakerState = 'closed'

  constructor(
    private readonly options: BreakerOptions,
    private readonly probe: () => Promise<void>,
    private readonly onChange: (state: BreakerState) => void
  ) {}

  get isOpen(): boolean {
    return this.state === 'open'
  }

  success(): void {
    if (this.failures.length) this.failures = []
  }

  failure(now = Date.now()): void {
    if (this.state === 'open') return
    const since = now - this.options.windowMs
    this.failures = this.failures.filter((at) => at > since)
    this.failures.push(now)
    if (this.failures.length >= this.options.failureThreshold) this.open()
  }

  /** Opens now (e.g. the connection is gone): there is nothing to wait for. */
  open(): void {
    if (this.state === 'open') return
    this.state = 'open'
    this.failures = []
    this.onChange('open')
    this.schedule()
  }

  /** The connection is back: probe now instead of at the next interval. */
  probeSoon(): void {
    if (this.state !== 'open' || this.probing) return
    clearTimeout(this.timer)
    this.schedule(0)
  }

  private schedule(delay = this.options.probeIntervalMs): void {
    if (this.stopped) return
    this.timer = setTimeout(() => void this.runProbe(), delay)
    this.timer.unref()
  }

  private async runProbe(): Promise<void> {
    this.probing = true
    try {
      await this.probe()
      this.state = 'closed'
      this.timer = undefined
      this.onChange('closed')
    } catch {
      if (this.state === 'open') this.schedule()
    } finally {
      this.probing = false
    }
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.timer)
    this.timer = undefined
  }
}
