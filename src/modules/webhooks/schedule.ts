const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const

/** `5s` → 5000 (the forms config.ts accepts: a whole number and ms, s, m or h). */
export function durationMs(text: string): number {
  const match = /^(\d+)(ms|s|m|h)$/.exec(text.trim())
  if (!match) throw new Error(`not a duration: ${text}`)
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]
}

export interface RetrySchedule {
  delaysMs: number[]
  repeatMs: number
  giveUpAfterMs: number
}

export const parseSchedule = (delays: string, repeat: string, giveUpAfter: string): RetrySchedule => ({
  delaysMs: delays.split(',').map(durationMs),
  repeatMs: durationMs(repeat),
  giveUpAfterMs: durationMs(giveUpAfter)
})

/**
 * The wait after failed attempt number `attempts` (1 = the first), with ±20 % jitter so that a receiver coming back
 * is not hit by every queued delivery at once; null once the delivery is older than the schedule allows.
 */
export function nextDelayMs(
  schedule: RetrySchedule,
  attempts: number,
  ageMs: number,
  random = Math.random
): number | null {
  const base = schedule.delaysMs[attempts - 1] ?? schedule.repeatMs
  const delay = Math.round(base * (0.8 + 0.4 * random()))
  return ageMs + delay > schedule.giveUpAfterMs ? null : delay
}
