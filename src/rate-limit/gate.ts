import type { GcraCall, GcraReply } from './gcra.js'

const ignore = () => {}

/**
 * A request's rate-limit decision, made on the way instead of before the handler runs (routes with
 * `deferRateLimit`). The handler's first Redis call may carry it: `take` hands out the call once, and
 * `settle` gets the script's reply back. Whatever needs the outcome calls `wait`, which sends the call on
 * its own when nothing carried it. Either way the decision is made once and ends the same: resolved when
 * the request may go on, rejected with the 429 otherwise.
 */
export class RateLimitGate {
  private pending: GcraCall | null
  private finish!: (outcome: Promise<void>) => void
  private readonly outcome: Promise<void>

  constructor(
    call: GcraCall,
    /** Sends the call on its own. */
    private readonly send: (call: GcraCall) => Promise<GcraReply>,
    /** Turns the reply (or the failure to get one) into the outcome: headers, fallback, 429. */
    private readonly conclude: (reply: Promise<GcraReply>) => Promise<void>
  ) {
    this.pending = call
    this.outcome = new Promise((resolve) => {
      this.finish = resolve
    })
    // Observed at once: a refusal nobody waits for (the request was aborted) is no unhandled rejection.
    this.outcome.catch(ignore)
  }

  /** The call to carry, to the first caller only; it must then `settle` with the reply. */
  take(): GcraCall | null {
    const call = this.pending
    this.pending = null
    return call
  }

  settle(reply: Promise<GcraReply>): void {
    this.finish(this.conclude(reply))
  }

  /** The outcome; sends the call now if nothing has taken it. */
  wait(): Promise<void> {
    const call = this.take()
    if (call) this.settle(this.send(call))
    return this.outcome
  }
}
