/**
 * Group commit for one kind of write. A call runs at once, as a batch of one, when no transaction of its kind is
 * running (and, with `gatherMs`, none has just ended). While one is, a call waits: for the rest of the event loop's turn when
 * fewer than `inFlight` are running (the calls that arrive in that turn go with it; with `gatherMs`, until the free
 * slot's share of the callers has come, at most that long), otherwise until a running one ends; the calls that waited
 * go together, as one transaction of a few set-based statements. Under light load nothing waits; under heavy load a
 * transaction's fixed costs (round trips, planning, the commit's flush, the statements' executor start) are paid
 * once per batch instead of once per request (docs/architecture.md, write coalescing).
 *
 * Each call keeps its own outcome: a batch that fails as a whole on a constraint or on the data (a taken SKU, a
 * revoked key) is rolled back and every call of it runs again alone, so each gets the answer it would have got
 * alone. Other failures (the database unreachable, a timeout) are every call's answer: running them again could
 * not do better and, after a COMMIT whose answer was lost, could write twice.
 */
export interface CoalescerOptions<I, O> {
  /** Transactions of this kind running at once (batches and single calls). */
  inFlight: number
  /** Most calls in one batch; 1 turns batching off (every call takes the single path). */
  maxBatch: number
  single: (item: I) => Promise<O>
  /** The outcomes of `items`, in their order, from one transaction. */
  batch: (items: I[]) => Promise<O[]>
  /**
   * A call that has waited this long for its turn (ms; 0 = no limit) is answered with `error()` and never runs, as a
   * pool checkout that times out is: a database that stopped answering holds the running transactions until their
   * own timeouts, and the calls behind them must not wait for several of those in turn.
   */
  maxWait?: { ms: number; error: () => unknown }
  /**
   * A free slot waits up to this long (ms; 0 = not at all) for its share of the callers: the calls in running
   * transactions and those answered since a slot was last taken (their clients come back within a few turns of the
   * event loop), divided by `inFlight`. Taking the slot with the first call back instead splits the callers into a
   * small batch and a large one, and the small one keeps recurring. A call that finds nothing running and nobody
   * expected back (nothing ended within the last gatherMs) still starts at once.
   */
  gatherMs?: number
  /** Told of each transaction run (its call count; 1 for a call run alone) and of calls run alone after their batch failed. */
  observe?: { ran: (size: number) => void; retriedAlone: (calls: number) => void }
}

interface Waiting<I, O> {
  item: I
  timer?: NodeJS.Timeout
  resolve: (value: O) => void
  reject: (err: unknown) => void
}

/**
 * Thrown by a batch when one of its calls needs an answer of its own that the batch cannot give (a stale If-Match,
 * a row that is not there): the batch is rolled back and each call runs alone.
 */
export class RunAlone extends Error {
  constructor(reason: string) {
    super(`a call of the batch runs alone: ${reason}`)
  }
}

/**
 * Failures that concern the rows of a batch, not the connection: RunAlone; SQLSTATE classes 22 (data), 23
 * (constraints) and 40 (deadlock, serialization); CK401, a key no longer active.
 */
export function concernsRows(err: unknown): boolean {
  if (err instanceof RunAlone) return true
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code !== 'string' || code.length !== 5) return false
  return code === 'CK401' || code.startsWith('22') || code.startsWith('23') || code.startsWith('40')
}

export class Coalescer<I, O> {
  private running = 0
  private soon = false
  private gathering: NodeJS.Timeout | undefined
  /** Calls in running transactions. */
  private callsRunning = 0
  /**
   * Calls answered since a slot was last taken: their clients are expected back within a few turns, and not after
   * `expectedUntil` (gatherMs after the last transaction ended).
   */
  private expected = 0
  private expectedUntil = 0
  private readonly waiting: Waiting<I, O>[] = []
  constructor(private readonly options: CoalescerOptions<I, O>) {
    if (!(options.inFlight >= 1 && options.maxBatch >= 1)) throw new RangeError('inFlight and maxBatch must be ≥ 1')
  }

  /** Calls waiting for their turn (not yet in a running transaction). */
  get waitingCount(): number {
    return this.waiting.length
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      const waiting: Waiting<I, O> = { item, resolve, reject }
      this.waiting.push(waiting)
      if (this.expected > 0 && performance.now() > this.expectedUntil) this.expected = 0
      if (this.running === 0 && this.expected === 0) this.dispatch()
      else this.dispatchSoon()
      const { maxWait } = this.options
      if (maxWait?.ms && this.waiting.includes(waiting)) {
        waiting.timer = setTimeout(() => this.expire(waiting, maxWait.error()), maxWait.ms)
      }
    })
  }

  private expire(waiting: Waiting<I, O>, err: unknown): void {
    const at = this.waiting.indexOf(waiting)
    if (at < 0) return
    this.waiting.splice(at, 1)
    waiting.reject(err)
  }

  /**
   * A free slot is taken at the end of the event loop's turn, not by the first call to arrive: the requests answered
   * by a batch come back within a few turns, and the first of them alone would otherwise take the slot (a
   * transaction for one create) while the rest wait behind it. With `gatherMs`, it waits further (at most that long)
   * until its share of the callers is waiting.
   */
  private dispatchSoon(): void {
    if (this.soon || this.running >= this.options.inFlight) return
    const gatherMs = this.options.gatherMs ?? 0
    const share = Math.ceil((this.callsRunning + this.expected) / this.options.inFlight)
    if (gatherMs > 0 && this.waiting.length < Math.min(share, this.options.maxBatch)) {
      this.gathering ??= setTimeout(() => {
        // The callers that have not come back by now are not expected any more.
        this.expected = 0
        this.gathering = undefined
        this.dispatch()
      }, gatherMs)
      return
    }
    this.soon = true
    setImmediate(() => {
      this.soon = false
      this.dispatch()
    })
  }

  private dispatch(): void {
    clearTimeout(this.gathering)
    this.gathering = undefined
    while (this.running < this.options.inFlight && this.waiting.length) {
      const group = this.waiting.splice(0, this.options.maxBatch)
      for (const w of group) clearTimeout(w.timer)
      this.running += 1
      this.callsRunning += group.length
      this.expected = Math.max(0, this.expected - group.length)
      void this.run(group).finally(() => {
        this.running -= 1
        this.callsRunning -= group.length
        if (!this.options.gatherMs) return this.dispatch()
        this.expected += group.length
        this.expectedUntil = performance.now() + this.options.gatherMs
        if (this.waiting.length) this.dispatchSoon()
      })
    }
  }

  private async run(group: Waiting<I, O>[]): Promise<void> {
    this.options.observe?.ran(group.length)
    // A call alone goes through the batch's statements too (cheaper than the single path: docs/architecture.md,
    // write coalescing), unless batching is off; the single path answers the calls of a batch that failed on a row.
    if (this.options.maxBatch === 1) {
      const [only] = group as [Waiting<I, O>]
      await this.options.single(only.item).then(only.resolve, only.reject)
      return
    }
    let outcomes: O[]
    try {
      outcomes = await this.options.batch(group.map((w) => w.item))
    } catch (err) {
      if (!concernsRows(err)) {
        for (const w of group) w.reject(err)
        return
      }
      this.options.observe?.retriedAlone(group.length)
      await Promise.all(group.map((w) => this.options.single(w.item).then(w.resolve, w.reject)))
      return
    }
    group.forEach((w, i) => w.resolve(outcomes[i] as O))
  }
}
