import { type Copy, DockerfileParser, type Env, type Instruction, type JSONInstruction } from 'dockerfile-ast'

/** One instruction of a Dockerfile, flattened: keyword, arguments as written, exec-form strings when JSON. */
export interface Step {
  keyword: string
  args: string
  /** The strings of an exec-form (JSON) argument list; undefined for shell form. */
  exec?: string[]
  /** COPY --from=<stage>. */
  from?: string
  /** ENV name → value. */
  env?: Record<string, string>
}

export interface Stage {
  name?: string
  image: string
  steps: Step[]
}

function toStep(instruction: Instruction): Step {
  const keyword = instruction.getKeyword()
  const step: Step = { keyword, args: (instruction.getArgumentsContent() ?? '').replace(/\\\n\s*/g, ' ') }
  if (['CMD', 'ENTRYPOINT', 'RUN', 'COPY', 'SHELL'].includes(keyword)) {
    const json = (instruction as JSONInstruction).getJSONStrings()
    if (json.length) step.exec = json.map((s) => s.getJSONValue())
  }
  if (keyword === 'HEALTHCHECK') {
    const cmd = step.args.replace(/^(--\S+\s+)*CMD\s+/, '')
    if (cmd.startsWith('[')) step.exec = JSON.parse(cmd) as string[]
  }
  if (keyword === 'COPY') step.from = (instruction as Copy).getFromFlag()?.getValue() ?? undefined
  if (keyword === 'ENV')
    step.env = Object.fromEntries((instruction as Env).getProperties().map((p) => [p.getName(), p.getValue() ?? '']))
  return step
}

/** The Dockerfile's build stages in order, each with its base image and its instructions. */
export function parseStages(content: string): Stage[] {
  const stages: Stage[] = []
  for (const instruction of DockerfileParser.parse(content).getInstructions()) {
    const step = toStep(instruction)
    if (step.keyword === 'FROM') {
      const [image = '', as, name] = step.args.split(/\s+/)
      stages.push({ image, name: as?.toUpperCase() === 'AS' ? name : undefined, steps: [] })
    } else stages.at(-1)?.steps.push(step)
  }
  return stages
}

/**
 * The rules the production image follows, as problems found in `content` (none = all hold): multi-stage; every
 * base image Node 24 with an exact version; the runtime stage runs as a non-root user, under tini, with an
 * exec-form CMD that loads Sentry's instrumentation first, an exec-form HEALTHCHECK, and takes its node_modules
 * from a stage that installed production dependencies only; no sources and no `COPY . .` in it.
 */
export function dockerfileProblems(content: string): string[] {
  const problems: string[] = []
  const stages = parseStages(content)
  const runtime = stages.at(-1)
  if (stages.length < 2 || !runtime) return ['not a multi-stage build']
  for (const stage of stages) {
    if (!/^node:24\.\d+\.\d+-(bookworm|trixie)-slim$|^node:24\.\d+\.\d+-alpine3\.\d+$/.test(stage.image))
      problems.push(`base image ${stage.image} is not Node 24 pinned to an exact release`)
  }
  const last = (keyword: string) => runtime.steps.filter((s) => s.keyword === keyword).at(-1)

  const user = last('USER')?.args.split(':')[0]
  if (!user || user === 'root' || user === '0') problems.push('the runtime stage does not switch to a non-root USER')
  const entrypoint = last('ENTRYPOINT')?.exec
  if (!entrypoint || !/(^|\/)tini$/.test(entrypoint[0] ?? '') || entrypoint[1] !== '--')
    problems.push('ENTRYPOINT is not tini in exec form (["/usr/bin/tini", "--"])')
  if (
    !runtime.steps.some((s) => s.keyword === 'RUN' && /apt-get install[^&]*\btini\b|apk add[^&]*\btini\b/.test(s.args))
  )
    problems.push('tini is not installed in the runtime stage')
  const cmd = last('CMD')?.exec
  if (!cmd) problems.push('CMD is not in exec form')
  else if (cmd[0] !== 'node' || cmd[1] !== '--import' || !/instrument\.js$/.test(cmd[2] ?? ''))
    problems.push('CMD does not start node with the Sentry instrumentation imported first')
  if (!last('HEALTHCHECK')?.exec) problems.push('no exec-form HEALTHCHECK')

  const copies = runtime.steps.filter((s) => s.keyword === 'COPY' || s.keyword === 'ADD')
  for (const copy of copies) {
    const sources = copy.args.split(/\s+/).slice(0, -1)
    if (!copy.from && sources.some((src) => src === '.' || src === './' || /^(\.\/)?(src|test)\b/.test(src)))
      problems.push(`the runtime stage copies sources or the whole context (${copy.keyword} ${copy.args})`)
  }
  const modules = copies.find((c) => /node_modules/.test(c.args))
  const depsStage = stages.find((s) => s.name === modules?.from)
  if (!modules?.from || !depsStage) problems.push('node_modules does not come from a dependencies stage')
  else if (!depsStage.steps.some((s) => s.keyword === 'RUN' && /npm ci\b.*--omit=dev/.test(s.args)))
    problems.push(`stage ${depsStage.name} does not install with npm ci --omit=dev`)
  return problems
}
