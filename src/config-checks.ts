import type { Config } from './config.js'

/**
 * Example values published in docker-compose.yml, .env.example and the docs of earlier versions: a process
 * that runs in production with one of them runs with a secret everybody knows.
 */
export const EXAMPLE_SECRETS: readonly string[] = [
  'change-me-to-a-long-random-string',
  'ck_change-me-to-a-long-random-key-of-your-own'
]

export const MIN_SECRET_LENGTH = 32

/** With NODE_ENV=production: a missing, short or published secret, one message per variable. */
export function productionProblems(config: Config): string[] {
  if (config.NODE_ENV !== 'production') return []
  const problems: string[] = []
  const secret = (name: 'CURSOR_SECRET' | 'BOOTSTRAP_ADMIN_API_KEY', value: string | undefined, required: boolean) => {
    if (value === undefined) {
      if (required) problems.push(`${name} is not set: NODE_ENV=production needs a random value of its own`)
      return
    }
    if (EXAMPLE_SECRETS.includes(value))
      problems.push(`${name} is the published example value: NODE_ENV=production needs a random value of its own`)
    else if (value.length < MIN_SECRET_LENGTH)
      problems.push(
        `${name} has ${value.length} characters: NODE_ENV=production needs at least ${MIN_SECRET_LENGTH} (e.g. openssl rand -base64 32)`
      )
  }
  // Cursors signed with the public development key could be forged by anyone.
  secret('CURSOR_SECRET', config.CURSOR_SECRET, true)
  secret('BOOTSTRAP_ADMIN_API_KEY', config.BOOTSTRAP_ADMIN_API_KEY, false)
  return problems
}

/**
 * The word every variable of a family starts with (DB_, REDIS_, RATE_…): the first word that two or more of
 * our variables share. A variable with one of these prefixes that we do not know is most likely a typo.
 * NODE_ and SENTRY_ are shared with Node (NODE_OPTIONS) and the Sentry SDK (SENTRY_RELEASE), which read their own.
 */
const FOREIGN_PREFIXES = new Set(['NODE_', 'SENTRY_'])

export function knownPrefixes(known: readonly string[]): string[] {
  const counts = new Map<string, number>()
  for (const key of known) {
    const first = /^[A-Z0-9]+_/.exec(key)?.[0]
    if (first) counts.set(first, (counts.get(first) ?? 0) + 1)
  }
  return [...counts].filter(([prefix, n]) => n >= 2 && !FOREIGN_PREFIXES.has(prefix)).map(([prefix]) => prefix)
}

export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1)
      current.push(Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution))
    }
    previous = current
  }
  return previous[b.length] as number
}

export interface UnknownVariable {
  name: string
  closest: string
}

/** Variables in `env` that look like ours (a known prefix) but are not, each with the nearest known name. */
export function unknownVariables(env: NodeJS.ProcessEnv, known: readonly string[]): UnknownVariable[] {
  const prefixes = knownPrefixes(known)
  const knownSet = new Set(known)
  const found: UnknownVariable[] = []
  for (const name of Object.keys(env).sort()) {
    if (knownSet.has(name) || !prefixes.some((prefix) => name.startsWith(prefix))) continue
    let closest = known[0] as string
    let best = Number.POSITIVE_INFINITY
    for (const candidate of known) {
      const distance = editDistance(name, candidate)
      if (distance < best) [closest, best] = [candidate, distance]
    }
    found.push({ name, closest })
  }
  return found
}
