// docker-compose.yml, checked without a Docker engine: the shape (three instances behind nginx, primary and
// replica, Redis with volatile-lru, Prometheus with the rules, Grafana with the dashboard), secrets that must come
// from .env, no demo seed outside the demo profile. Where the compose plugin exists, `docker compose config` too.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { parse } from 'yaml'
import { projectRoot } from '../../src/lib/project-root.js'

const root = projectRoot()
const text = readFileSync(join(root, 'docker-compose.yml'), 'utf8')
// The parsed file, read as loosely as YAML is; the assertions check its shape.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any
const compose = parse(text, { merge: true }) as {
  services: Record<string, Record<string, Loose>>
  volumes?: Record<string, unknown>
}
const services = compose.services
const apis = ['api-1', 'api-2', 'api-3']
const example = readFileSync(join(root, 'deploy', 'compose.env.example'), 'utf8')
const secretNames = [...example.matchAll(/^([A-Z_]+)=$/gm)].map((m) => m[1])

/** Compose's ${VAR}, ${VAR:?message} and ${VAR:-default} interpolation, enough to see what a missing .env does. */
function interpolate(source: string, env: Record<string, string>): string {
  return source.replace(/\$\{([A-Z0-9_]+)(?::([?-])([^}]*))?\}/g, (_, name: string, kind?: string, arg?: string) => {
    const value = env[name]
    if (value !== undefined && value !== '') return value
    if (kind === '?') throw new Error(`required variable ${name} is missing a value: ${arg}`)
    return kind === '-' ? (arg ?? '') : ''
  })
}

test('when compose starts, then three API instances run behind nginx on a primary with a streaming replica, Redis, Prometheus and Grafana', () => {
  for (const name of [...apis, 'nginx', 'postgres', 'postgres-replica', 'redis', 'prometheus', 'grafana', 'migrate'])
    assert.ok(services[name], `service ${name}`)
  for (const name of apis) {
    const env = services[name]?.environment as Record<string, string>
    assert.equal(env.DB_HOST, 'postgres')
    assert.equal(env.DB_READ_REPLICA_HOST, 'postgres-replica')
    assert.match(env.REDIS_URL ?? '', /@redis:6379$/)
    assert.equal(env.TRUST_PROXY, '1')
    assert.equal(env.NODE_ENV, 'production')
    assert.deepEqual(Object.keys(services[name]?.depends_on ?? {}).sort(), ['migrate', 'postgres-replica', 'redis'])
  }
  const nginxConf = readFileSync(join(root, 'deploy', 'nginx', 'nginx.conf'), 'utf8')
  for (const name of apis) assert.match(nginxConf, new RegExp(`server ${name}:5000 max_fails=1 fail_timeout=5s;`))
  assert.match(services['postgres-replica']?.entrypoint.join(' '), /replica-entrypoint\.sh/)
  assert.match(readFileSync(join(root, 'deploy', 'postgres', 'replica-entrypoint.sh'), 'utf8'), /pg_basebackup .* -R /)
})

test('when a volume of the compose file names a file of the repository, then that file exists (rules and dashboard folders included)', () => {
  const mounts = Object.values(services).flatMap((s) => (s.volumes ?? []) as string[])
  for (const mount of mounts.filter((m) => m.startsWith('./'))) {
    const path = mount.split(':')[0] as string
    if (path === './prometheus/rules') continue // the rules are optional for compose: an empty glob loads none
    assert.ok(existsSync(join(root, path)), `${path} exists`)
  }
  assert.ok(mounts.includes('./prometheus/rules:/etc/prometheus/rules:ro'))
  assert.match(readFileSync(join(root, 'prometheus.yml'), 'utf8'), /- \/etc\/prometheus\/rules\/\*\.yml/)
  assert.ok(mounts.includes('./grafana:/etc/grafana/catalog:ro'))
  assert.equal(services.grafana?.environment.GF_PATHS_PROVISIONING, '/etc/grafana/catalog/provisioning')
  const dashboards = parse(readFileSync(join(root, 'grafana/provisioning/dashboards/catalog-api.yml'), 'utf8'))
  assert.equal(dashboards.providers[0].options.path, '/etc/grafana/catalog')
})

test('when Redis starts, then it keeps nothing on disk and evicts only keys with a TTL (volatile-lru)', () => {
  const args = (services.redis?.command as string[]).map(String)
  assert.equal(args[args.indexOf('--maxmemory-policy') + 1], 'volatile-lru')
  assert.ok(args.includes('--maxmemory'))
  assert.equal(args[args.indexOf('--save') + 1], '')
})

test('when the compose file names a secret, then it comes from .env and compose refuses to start without it', () => {
  const used = new Set([...text.matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1]))
  assert.deepEqual(
    [...used].sort(),
    [...secretNames].sort(),
    'deploy/compose.env.example lists exactly the variables used'
  )
  // Every reference is ${VAR:?message}: no default that would start with a guessable secret.
  for (const match of text.matchAll(/\$\{[^}]*\}/g)) assert.match(match[0], /^\$\{[A-Z0-9_]+:\?[^}]+\}$/)
  // No literal value where a secret belongs.
  for (const [name, service] of Object.entries(services)) {
    const env = (service.environment ?? {}) as Record<string, string>
    for (const [key, value] of Object.entries(env))
      if (/PASSWORD|SECRET|API_KEY|TOKEN|REDIS_URL/.test(key))
        assert.match(String(value), /\$\{[A-Z_]+:\?/, `${name}.${key} comes from .env`)
  }
  const full = Object.fromEntries(secretNames.map((n) => [n as string, `value-of-${n}`]))
  assert.doesNotThrow(() => interpolate(text, full))
  for (const missing of secretNames) {
    const env = { ...full, [missing as string]: '' }
    assert.throws(() => interpolate(text, env), new RegExp(`required variable ${missing} is missing`))
  }
})

test('when compose runs without the demo profile, then nothing loads demo data', () => {
  for (const [name, service] of Object.entries(services)) {
    const demo = ((service.profiles ?? []) as string[]).includes('demo')
    const env = (service.environment ?? {}) as Record<string, string>
    const seeds = String(service.command ?? '').includes('seed') || env.SEED_ON_STARTUP === 'true'
    if (!demo) {
      assert.equal(seeds, false, `${name} seeds outside the demo profile`)
      assert.equal(env.SEED_ON_STARTUP ?? 'false', 'false', `${name} SEED_ON_STARTUP`)
    }
  }
  assert.deepEqual(services.seed?.profiles, ['demo'])
})

const composePlugin = spawnSync('docker', ['compose', 'version']).status === 0
test(
  'when docker compose is installed, then `docker compose config` accepts the file with an .env and refuses it without',
  { skip: composePlugin ? false : 'the docker compose plugin is not installed here' },
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'catalog-compose-'))
    try {
      const envFile = join(dir, 'test.env')
      await writeFile(envFile, secretNames.map((n) => `${n}=test${n?.toLowerCase()}`).join('\n'))
      const ok = spawnSync('docker', ['compose', '--env-file', envFile, '-f', 'docker-compose.yml', 'config', '-q'], {
        cwd: root,
        encoding: 'utf8'
      })
      assert.equal(ok.status, 0, ok.stderr)
      const empty = join(dir, 'empty.env')
      await writeFile(empty, '')
      const refused = spawnSync(
        'docker',
        ['compose', '--env-file', empty, '-f', 'docker-compose.yml', 'config', '-q'],
        {
          cwd: root,
          encoding: 'utf8',
          env: { PATH: process.env.PATH }
        }
      )
      assert.notEqual(refused.status, 0)
      assert.match(refused.stderr, /required variable/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
)
