// Synthesizes the CDK application of infra/ once per test file and gives the tests its templates.
// infra/ is its own npm package (npm run infra:install; npm test, lint and typecheck install it when missing); without
// it these tests are skipped by name, and under REQUIRE_SERVICES=1 (CI) they fail.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

type Infra = typeof import('../../infra/lib/testing.js')
export type Template = ReturnType<Infra['Template']['fromJSON']>
/** CloudFormation JSON, whose shape the tests assert. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = Record<string, any>
export type Resource = { Type: string; Properties: Json; DependsOn?: string[]; DeletionPolicy?: string }

const installed = existsSync(new URL('../../infra/node_modules/aws-cdk-lib/package.json', import.meta.url))
if (!installed && process.env.REQUIRE_SERVICES === '1')
  throw new Error('infra/ is not installed: run `npm run infra:install` (CI does it in .ci/run)')

/** The reason the infra tests are skipped, or false when they run. */
export const skip = installed ? false : 'infra/ is not installed (npm run infra:install)'

export interface Synthesized {
  infra: Infra
  app: ReturnType<Infra['buildApp']>['app']
  catalog: Template
  registry: Template
  /** Every resource of the service stack, by logical id. */
  resources: Record<string, Resource>
}

let cached: Promise<Synthesized> | undefined

export function synth(): Promise<Synthesized> {
  cached ??= (async () => {
    const infra = await import('../../infra/lib/testing.js')
    const outdir = mkdtempSync(join(tmpdir(), 'catalog-cdk-'))
    try {
      const { app } = infra.buildApp({ context: infra.cdkJsonContext(), outdir })
      const assembly = app.synth()
      const catalog = infra.Template.fromJSON(assembly.getStackByName('Catalog').template as Record<string, unknown>)
      const registry = infra.Template.fromJSON(
        assembly.getStackByName('CatalogRegistry').template as Record<string, unknown>
      )
      const resources = catalog.toJSON().Resources as Record<string, Resource>
      return { infra, app, catalog, registry, resources }
    } finally {
      rmSync(outdir, { recursive: true, force: true })
    }
  })()
  return cached
}

/** The resources of one type, as [logicalId, resource] pairs. */
export function ofType(resources: Record<string, Resource>, type: string): [string, Resource][] {
  return Object.entries(resources).filter(([, r]) => r.Type === type)
}

/** The one resource of `type` whose properties satisfy `match`. */
export function only(resources: Record<string, Resource>, type: string, match: (r: Resource) => boolean) {
  const found = ofType(resources, type).filter(([, r]) => match(r))
  if (found.length !== 1) throw new Error(`expected one ${type} to match, found ${found.length}`)
  return found[0] as [string, Resource]
}

/** The task definition of `family` and its containers by name. */
export function taskDefinition(resources: Record<string, Resource>, family: string) {
  const [id, task] = only(resources, 'AWS::ECS::TaskDefinition', (r) => r.Properties.Family === family)
  const containers = Object.fromEntries(
    (task.Properties.ContainerDefinitions as Json[]).map((c) => [c.Name as string, c])
  )
  return { id, task, containers }
}

/** A container's plain environment as an object. */
export function environmentOf(container: Json): Record<string, unknown> {
  return Object.fromEntries(
    ((container.Environment ?? []) as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value])
  )
}
