// The balancer and Prometheus configurations of `npm run stack` and docker-compose, checked by the real tools:
// `nginx -t` and `promtool check config` (skipped by name where the Debian packages are missing, failed under
// REQUIRE_SERVICES=1, where .ci/run installs them).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { NGINX, nginxConfig } from '../../scripts/stack/nginx.js'
import { prometheusConfig } from '../../scripts/stack/prometheus.js'
import { projectRoot } from '../../src/lib/project-root.js'
import { defer } from '../helper.js'

const root = projectRoot()
const required = process.env.REQUIRE_SERVICES === '1'
const tool = (path: string, what: string) =>
  existsSync(path) || required ? false : `${what} is not installed (apt-get install ${what})`

async function tempDir(t: Parameters<typeof defer>[0]) {
  const dir = await mkdtemp(join(tmpdir(), 'catalog-stack-config-'))
  defer(t, () => rm(dir, { recursive: true, force: true }))
  await mkdir(join(dir, 'nginx-tmp'))
  return dir
}

function nginxTest(file: string, dir: string) {
  const out = spawnSync(NGINX, ['-t', '-c', file, '-p', dir], { encoding: 'utf8' })
  assert.equal(out.status, 0, out.stderr)
}

test(
  'when the stack writes its nginx.conf, then nginx accepts it: round robin over every instance with passive checks, keep-alive both ways, no retry of non-idempotent requests',
  { skip: tool(NGINX, 'nginx') },
  async (t) => {
    const dir = await tempDir(t)
    const conf = nginxConfig({ dir, port: 18080, upstreams: [{ port: 18081 }, { port: 18082 }, { port: 18083 }] })
    await writeFile(join(dir, 'nginx.conf'), conf)
    nginxTest(join(dir, 'nginx.conf'), dir)
    for (const port of [18081, 18082, 18083])
      assert.match(conf, new RegExp(`server 127\\.0\\.0\\.1:${port} max_fails=1 fail_timeout=5s;`))
    assert.match(conf, /keepalive_timeout 60s;/)
    const proxy = readFileSync(join(root, 'deploy/nginx/proxy.conf'), 'utf8')
    assert.match(proxy, /^\s*proxy_next_upstream error timeout;$/m)
    assert.doesNotMatch(proxy.replace(/#.*$/gm, ''), /non_idempotent/)
    assert.match(proxy, /proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;/)
    assert.match(proxy, /proxy_set_header Connection "";/)
    assert.match(readFileSync(join(root, 'deploy/nginx/upstream.conf'), 'utf8'), /^keepalive_timeout 60s;$/m)
  }
)

test(
  'when compose mounts deploy/nginx/nginx.conf, then nginx accepts it (instance names pointed at loopback)',
  { skip: tool(NGINX, 'nginx') },
  async (t) => {
    const dir = await tempDir(t)
    const conf = readFileSync(join(root, 'deploy/nginx/nginx.conf'), 'utf8')
      .replace(/api-(\d):5000/g, '127.0.0.1:1808$1')
      .replaceAll('/etc/nginx/catalog/', `${join(root, 'deploy/nginx')}/`)
      .replace('listen 80;', 'listen 127.0.0.1:18080;')
      .replace('/dev/stdout', join(dir, 'access.log'))
      .replace('/dev/stderr', join(dir, 'error.log'))
      .replace('events {', `pid ${dir}/nginx.pid;\nevents {`)
    await writeFile(join(dir, 'nginx.conf'), conf)
    nginxTest(join(dir, 'nginx.conf'), dir)
  }
)

test(
  'when Prometheus loads the stack and compose configurations, then promtool accepts both, rules glob included',
  { skip: tool('/usr/bin/promtool', 'prometheus') },
  async (t) => {
    const dir = await tempDir(t)
    const file = join(dir, 'prometheus.yml')
    await writeFile(file, prometheusConfig(['127.0.0.1:18081', '127.0.0.1:18082', '127.0.0.1:18083']))
    for (const config of [file, join(root, 'prometheus.yml')]) {
      const out = spawnSync('/usr/bin/promtool', ['check', 'config', config], { encoding: 'utf8' })
      assert.equal(out.status, 0, `${config}: ${out.stdout}${out.stderr}`)
    }
    assert.match(readFileSync(file, 'utf8'), new RegExp(`${join(root, 'prometheus/rules')}/\\*\\.yml`))
  }
)
