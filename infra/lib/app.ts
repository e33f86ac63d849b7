import { readFileSync } from 'node:fs'
import { App, Validations } from 'aws-cdk-lib'
import { AwsSolutionsChecks } from 'cdk-nag'
import { CatalogStack } from './catalog-stack.js'
import { acknowledgeFindings } from './nag.js'
import { RegistryStack } from './registry-stack.js'

/** The context cdk.json carries (account, region, their availability zones, certificate, image tag, ...). */
export function cdkJsonContext(): Record<string, unknown> {
  const file = new URL('../cdk.json', import.meta.url)
  return (JSON.parse(readFileSync(file, 'utf8')) as { context: Record<string, unknown> }).context
}

export interface BuildOptions {
  /** Context values; the CLI passes cdk.json's (and -c ones) itself, tests pass cdkJsonContext(). */
  context?: Record<string, unknown>
  outdir?: string
  /** Run cdk-nag's AwsSolutionsChecks at synthesis (any unacknowledged finding fails it). */
  nag?: boolean
}

function text(app: App, key: string, fallback?: string): string {
  const value: unknown = app.node.tryGetContext(key) ?? fallback
  if (typeof value !== 'string' || (value === '' && fallback === undefined))
    throw new Error(`context "${key}" is missing: set it in infra/cdk.json or pass -c ${key}=...`)
  return value
}

const number = (app: App, key: string, fallback: number) => Number(app.node.tryGetContext(key) ?? fallback)

/** The whole application: the registry stack and the service stack, with the nag checks when asked. */
export function buildApp(options: BuildOptions = {}) {
  const app = new App({ context: options.context, outdir: options.outdir })
  const env = { account: text(app, 'account'), region: text(app, 'region') }
  const registry = new RegistryStack(app, 'CatalogRegistry', { env, description: 'Catalog API: image repository' })
  const stack = new CatalogStack(app, 'Catalog', {
    env,
    description: 'Catalog API: network, PostgreSQL, Redis, ALB and WAF, ECS service, alarms',
    repository: registry.repository,
    imageTag: text(app, 'imageTag'),
    certificateArn: text(app, 'certificateArn'),
    domainName: text(app, 'domainName'),
    corsOrigin: text(app, 'corsOrigin', ''),
    alarmEmail: text(app, 'alarmEmail', '') || undefined,
    maxAzs: number(app, 'maxAzs', 2),
    natGateways: number(app, 'natGateways', 1),
    dbInstanceType: text(app, 'dbInstanceType', 't4g.medium'),
    dbStorageGiB: number(app, 'dbStorageGiB', 50),
    cacheNodeType: text(app, 'cacheNodeType', 'cache.t4g.medium')
  })
  acknowledgeFindings(stack)
  if (options.nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app))
  return { app, registry, stack }
}
