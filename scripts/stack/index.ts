// npm run stack: the production-like stack on this machine until Ctrl+C or SIGTERM.
import { hostname } from 'node:os'
import { processesOf, startStack } from './stack.js'

const out = (line: string) => process.stdout.write(`${line}\n`)
const products = Number(process.env.STACK_SEED_PRODUCTS ?? 1000)

const stack = await startStack({ seedProducts: products, log: (line) => out(`  ${line}`) })
out(`
Catalog API stack on ${hostname()} (stop with Ctrl+C)
  API through nginx   ${stack.url}/api/v1/products     (docs: ${stack.url}/docs)
  instances           ${stack.instances.map((i) => i.url).join('  ')}
  Prometheus          ${stack.prometheus.url}
  PostgreSQL          primary 127.0.0.1:${stack.postgres.primary.port}, replica 127.0.0.1:${stack.postgres.replica.port} (user postgres, database ${stack.database})
  Redis               ${stack.redis.url}
  admin API key       ${stack.adminKey}
  logs                ${stack.dir}/*.log
`)

let stopping = false
async function shutdown(signal: string) {
  if (stopping) return
  stopping = true
  out(`${signal}: stopping the stack`)
  await stack.stop()
  out('stopped')
  process.exit(0)
}
process.on('SIGINT', () => void shutdown('SIGINT'))
process.on('SIGTERM', () => void shutdown('SIGTERM'))
// Should this process die another way, nothing it started outlives it.
process.on('exit', () => {
  for (const child of processesOf(stack)) child.child.kill('SIGKILL')
})
