// The rules, dashboard, runbook and metrics reference as data, for the tests that check them against each other,
// against promtool and against a live Prometheus.
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { projectRoot } from '../src/lib/project-root.js'

export const root = projectRoot()
export const rulesDir = join(root, 'prometheus', 'rules')
export const ruleTestsDir = join(root, 'prometheus', 'tests')

/** Why a test that needs `binary` (Debian package `prometheus`) cannot run, or undefined when it can. */
export function missingBinary(binary: 'promtool' | 'prometheus'): string | undefined {
  const probe = spawnSync(binary, ['--version'], { encoding: 'utf8' })
  return probe.error || probe.status !== 0 ? `${binary} is not installed (apt-get install -y prometheus)` : undefined
}

export interface Rule {
  record?: string
  alert?: string
  expr: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}

export const yamlFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.yml'))
    .sort()
    .map((f) => join(dir, f))

export function loadRules(): Rule[] {
  return yamlFiles(rulesDir).flatMap((file) => {
    const doc = parse(readFileSync(file, 'utf8')) as { groups: { rules: Rule[] }[] }
    return doc.groups.flatMap((g) => g.rules)
  })
}

interface Panel {
  title?: string
  type: string
  targets?: { expr?: string }[]
  panels?: Panel[]
}

export interface Dashboard {
  uid: string
  panels: Panel[]
  templating: { list: { name: string; query: { query: string } | string; datasource?: { uid: string } }[] }
}

export const loadDashboard = () =>
  JSON.parse(readFileSync(join(root, 'grafana', 'catalog-api.json'), 'utf8')) as Dashboard

/** Every PromQL expression of the dashboard: panel targets and the queries inside its variables' label_values(). */
export function dashboardExpressions(dashboard: Dashboard): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = []
  const walk = (panels: Panel[]) => {
    for (const panel of panels) {
      for (const target of panel.targets ?? [])
        if (target.expr) out.push({ where: `panel "${panel.title}"`, expr: target.expr })
      walk(panel.panels ?? [])
    }
  }
  walk(dashboard.panels)
  for (const variable of dashboard.templating.list) {
    const query = typeof variable.query === 'string' ? variable.query : variable.query.query
    const inner = /^label_values\((.*),\s*[a-zA-Z_]\w*\)$/.exec(query)?.[1]
    out.push({ where: `variable ${variable.name}`, expr: inner ?? query })
  }
  return out
}

/** Grafana's variables replaced by what they stand for at query time. */
export function substituteVariables(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__interval', '15s')
    .replaceAll('$__range', '1h')
    .replaceAll('$job', 'catalog-api')
    .replaceAll('$instance', '.+')
}

export const runbookText = () => readFileSync(join(root, 'docs', 'runbook.md'), 'utf8')

/** The runbook's sections by GitHub anchor of their `## ` heading, each with its ```promql blocks. */
export function runbookSections(text: string): Map<string, { heading: string; body: string; queries: string[] }> {
  const sections = new Map<string, { heading: string; body: string; queries: string[] }>()
  const parts = text.split(/^## /m).slice(1)
  for (const part of parts) {
    const heading = part.slice(0, part.indexOf('\n')).trim()
    const body = part.slice(part.indexOf('\n') + 1)
    const queries = [...body.matchAll(/```promql\n([\s\S]*?)```/g)].map((m) => (m[1] ?? '').trim())
    sections.set(githubAnchor(heading), { heading, body, queries })
  }
  return sections
}

export const githubAnchor = (heading: string) =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-')

export interface DocumentedMetric {
  name: string
  type: string
  labels: string[]
  meaning: string
}

/** The table rows of docs/metrics.md: | `name` | type | `label`, … or — | meaning |. */
export function documentedMetrics(): DocumentedMetric[] {
  const text = readFileSync(join(root, 'docs', 'metrics.md'), 'utf8')
  const rows: DocumentedMetric[] = []
  for (const line of text.split('\n')) {
    const cells = /^\|\s*`([a-z_:][a-z0-9_:]*)`\s*\|([^|]*)\|([^|]*)\|(.*)\|\s*$/.exec(line)
    if (!cells) continue
    const [, name = '', type = '', labels = '', meaning = ''] = cells
    rows.push({
      name,
      type: type.trim(),
      labels: [...labels.matchAll(/`([a-z_][a-z0-9_]*)`/g)].map((m) => m[1] ?? '').sort(),
      meaning: meaning.trim()
    })
  }
  return rows
}

const FUNCTIONS_AND_KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'inf',
  'nan',
  'atan2'
])
const LABEL_LISTS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right'])

export interface Selector {
  metric: string
  labels: string[]
}

/**
 * The metric names an expression reads, each with the label names its matchers use: a tokenizer, not a parser
 * (Prometheus itself parses the expressions in the live test). Identifiers are metric names unless they call
 * something, are keywords, or stand in a label list (by, on, …) or a matcher block.
 */
export function selectors(expr: string): Selector[] {
  const tokens =
    expr.match(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`|[a-zA-Z_:][a-zA-Z0-9_:]*|\d[\w.]*|=~|!~|!=|\S/g) ?? []
  const out: Selector[] = []
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] ?? ''
    if (token === '[') {
      // A range or subquery: durations only.
      while (i < tokens.length && tokens[i] !== ']') i++
      continue
    }
    if (token === '{') {
      // A matcher block without a metric name in front ({__name__=…}): not used here.
      throw new Error(`a selector without a metric name in: ${expr}`)
    }
    if (!/^[a-zA-Z_:]/.test(token) || FUNCTIONS_AND_KEYWORDS.has(token)) {
      if (LABEL_LISTS.has(token) && tokens[i + 1] === '(') while (i < tokens.length && tokens[i] !== ')') i++
      continue
    }
    if (tokens[i + 1] === '(') continue // a function or an aggregation
    if (tokens[i + 1] === 'by' || tokens[i + 1] === 'without') continue // sum by (…) (…)
    const labels: string[] = []
    if (tokens[i + 1] === '{') {
      i += 2
      while (i < tokens.length && tokens[i] !== '}') {
        const name = tokens[i] ?? ''
        if (/^[a-zA-Z_]/.test(name) && /^(=|!=|=~|!~)$/.test(tokens[i + 1] ?? '')) labels.push(name)
        i++
      }
    }
    out.push({ metric: token, labels })
  }
  return out
}

export interface ExportedFamily {
  type: string
  /** Label names seen on its samples (histograms: without le). */
  labels: Set<string>
  /** The sample names it yields: name, or name_bucket/_sum/_count for histograms (summaries: name, _sum, _count). */
  series: string[]
}

/** The metric families of a /metrics exposition, by name. */
export function exportedFamilies(text: string): Map<string, ExportedFamily> {
  const families = new Map<string, ExportedFamily>()
  for (const line of text.split('\n')) {
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/.exec(line)
    if (type) {
      const [, name = '', kind = ''] = type
      const series =
        kind === 'histogram'
          ? [`${name}_bucket`, `${name}_sum`, `${name}_count`]
          : kind === 'summary'
            ? [name, `${name}_sum`, `${name}_count`]
            : [name]
      families.set(name, { type: kind, labels: new Set(), series })
    }
  }
  for (const line of text.split('\n')) {
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/.exec(line)
    if (!sample) continue
    const [, name = '', labelText = ''] = sample
    const family = [...families.entries()].find(([, f]) => f.series.includes(name))?.[1]
    for (const m of labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) if (m[1] !== 'le') family?.labels.add(m[1] ?? '')
  }
  return families
}
