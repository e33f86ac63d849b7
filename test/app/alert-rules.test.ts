// prometheus/rules checked by promtool (syntax, then the unit tests in prometheus/tests), and held to the house
// rules: every alert has a firing and a quiet unit test, a severity, a summary, a description and a runbook
// section that says how to confirm it with a query.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { parse } from 'yaml'
import {
  loadRules,
  missingBinary,
  ruleTestsDir,
  rulesDir,
  runbookSections,
  runbookText,
  yamlFiles
} from '../observability.js'

const required = process.env.REQUIRE_SERVICES === '1'
const missing = missingBinary('promtool')
// Skipped by name only on a developer machine without promtool; under REQUIRE_SERVICES=1 a missing promtool fails.
const skip = !required && missing ? missing : false

function promtool(args: string[], cwd?: string) {
  const run = spawnSync('promtool', args, { encoding: 'utf8', cwd, timeout: 120_000 })
  return { code: run.status, output: `${run.stdout}${run.stderr}` }
}

test('the rule files pass `promtool check rules`', { skip }, (t) => {
  if (missing) assert.fail(`REQUIRE_SERVICES=1 but ${missing}`)
  const { code, output } = promtool(['check', 'rules', ...yamlFiles(rulesDir)])
  t.diagnostic(output.trim())
  assert.equal(code, 0, output)
  assert.match(output, /SUCCESS/)
})

test(
  'the alerts pass their unit tests (`promtool test rules prometheus/tests/*.yml`)',
  { skip, timeout: 180_000 },
  (t) => {
    if (missing) assert.fail(`REQUIRE_SERVICES=1 but ${missing}`)
    const files = yamlFiles(ruleTestsDir)
    assert.ok(files.length > 0, 'there are rule unit tests')
    const { code, output } = promtool(['test', 'rules', ...files], ruleTestsDir)
    t.diagnostic(output.trim())
    assert.equal(code, 0, output)
    assert.doesNotMatch(output, /FAILED/)
  }
)

interface AlertCase {
  alertname: string
  exp_alerts?: unknown[]
}

test('every alert has a unit test where it fires and one where it does not', () => {
  const fires = new Set<string>()
  const quiet = new Set<string>()
  for (const file of yamlFiles(ruleTestsDir)) {
    const doc = parse(readFileSync(file, 'utf8')) as { tests: { alert_rule_test?: AlertCase[] }[] }
    for (const unit of doc.tests)
      for (const c of unit.alert_rule_test ?? []) (c.exp_alerts?.length ? fires : quiet).add(c.alertname)
  }
  const alerts = loadRules().flatMap((r) => (r.alert ? [r.alert] : []))
  assert.ok(alerts.length >= 13, `${alerts.length} alerts`)
  assert.deepEqual(
    alerts.filter((a) => !fires.has(a)),
    [],
    'alerts without a case that fires'
  )
  assert.deepEqual(
    alerts.filter((a) => !quiet.has(a)),
    [],
    'alerts without a case that stays quiet'
  )
})

test('every alert has a severity, summary, description and a runbook_url to a runbook section with a query', () => {
  const sections = runbookSections(runbookText())
  const alerts = loadRules().filter((r) => r.alert)
  for (const rule of alerts) {
    const name = rule.alert as string
    assert.match(rule.labels?.severity ?? '', /^(critical|warning)$/, `${name} severity`)
    assert.ok(rule.annotations?.summary, `${name} summary`)
    assert.ok(rule.annotations?.description, `${name} description`)
    const url = rule.annotations?.runbook_url ?? ''
    const anchor = /^docs\/runbook\.md#([a-z0-9-]+)$/.exec(url)?.[1]
    assert.ok(anchor, `${name} runbook_url ${url} points into docs/runbook.md`)
    const section = sections.get(anchor)
    assert.ok(section, `docs/runbook.md has the section #${anchor} for ${name}`)
    assert.equal(section.heading, name, `the section #${anchor} is about ${name}`)
    assert.ok(section.queries.length > 0, `the runbook section of ${name} has a promql query to confirm it`)
    for (const part of ['What it means', 'Confirm', 'What to do'])
      assert.match(section.body, new RegExp(`\\*\\*${part}`), `the runbook section of ${name} says ${part}`)
  }
  // No orphan sections: each describes an alert that exists.
  const names = new Set(alerts.map((r) => r.alert))
  for (const { heading } of sections.values()) assert.ok(names.has(heading), `runbook section ${heading} has an alert`)
})
