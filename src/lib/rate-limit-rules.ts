/** One quota: `max` requests per `windowMs`, named in the RateLimit headers. */
export interface Policy {
  name: string
  max: number
  windowMs: number
}

export interface RouteRule extends Policy {
  kind: 'route'
  /** Upper-case methods, or null for any. */
  methods: string[] | null
  /** A route template as registered (e.g. /api/v1/products/:id), or null for any route. */
  route: string | null
}

export interface RoleRule extends Policy {
  kind: 'role'
  role: string
}

export type Rule = RouteRule | RoleRule

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
const RULE =
  /^([A-Za-z0-9_.-]{1,40})\s*:\s*(?:role:([a-z]+)|(\*|[A-Za-z]+(?:,[A-Za-z]+)*)\s+(\*|\/\S*))\s+(\d+)\s*\/\s*(\d+)(ms|s|m|h)$/

/**
 * Parses RATE_LIMIT_RULES: `;`-separated `name: selector max/window`, e.g.
 * `writes: POST,PATCH,DELETE * 30/1m; editors: role:editor 1000/15m`. Throws with the offending rule.
 */
export function parseRules(text: string): Rule[] {
  const rules: Rule[] = []
  for (const raw of text.split(';')) {
    const part = raw.trim()
    if (!part) continue
    const m = RULE.exec(part)
    if (!m) throw new Error(`"${part}" is not "name: METHODS /route max/window" or "name: role:ROLE max/window"`)
    const [, name, role, methods, route, max, amount, unit] = m as unknown as string[]
    const windowMs = Number(amount) * (UNITS[unit as string] as number)
    if (Number(max) < 1 || windowMs < 1000) throw new Error(`"${part}": max must be ≥ 1 and the window ≥ 1s`)
    if (rules.some((r) => r.name === name) || name === 'default')
      throw new Error(`"${part}": the name ${name} is already used`)
    const policy = { name: name as string, max: Number(max), windowMs }
    if (role) rules.push({ kind: 'role', role, ...policy })
    else
      rules.push({
        kind: 'route',
        methods: methods === '*' ? null : (methods as string).toUpperCase().split(','),
        route: route === '*' ? null : (route as string),
        ...policy
      })
  }
  return rules
}

/** The policy a request falls under: the first matching route rule, else its key's role rule, else `fallback`. */
export function selectPolicy(
  rules: Rule[],
  fallback: Policy,
  method: string,
  route: string | undefined,
  role: string | undefined
): Policy {
  for (const rule of rules) {
    if (rule.kind !== 'route') continue
    if (rule.methods && !rule.methods.includes(method)) continue
    if (rule.route && rule.route !== route) continue
    return rule
  }
  if (role) for (const rule of rules) if (rule.kind === 'role' && rule.role === role) return rule
  return fallback
}
