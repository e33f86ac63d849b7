import { ConfigSchema } from '../src/config.js'
import { PRODUCTION_SETTINGS } from './production-env.js'

// npm run config:docs — prints the configuration as .env.example (default), as a Markdown table (--markdown) or as
// the .env.production template (--production).
type Prop = { description?: string; default?: string | number | boolean; enum?: unknown[] }
const props = ConfigSchema.properties as unknown as Record<string, Prop>
const mode = process.argv.includes('--markdown')
  ? 'markdown'
  : process.argv.includes('--production')
    ? 'production'
    : 'example'

const HEADERS = {
  markdown: ['| Variable | Default | Meaning |', '| --- | --- | --- |'],
  example: ['# Every variable is optional; the values shown are the defaults. Copy to .env and edit.', ''],
  production: [
    '# Production template: every variable the service reads (generated: npm run -s config:docs -- --production).',
    '# Uncommented lines are what production sets; commented ones show the default. Secrets are left empty here:',
    '# they come from the secret store (AWS Secrets Manager, injected as ECS secrets), never from a committed file.',
    ''
  ]
}

const lines: string[] = [...HEADERS[mode]]
for (const [key, prop] of Object.entries(props)) {
  const fallback = prop.default === undefined ? '' : String(prop.default)
  if (mode === 'markdown') {
    lines.push(`| \`${key}\` | ${fallback === '' ? '—' : `\`${fallback}\``} | ${prop.description ?? ''} |`)
    continue
  }
  const production = mode === 'production' ? PRODUCTION_SETTINGS[key] : undefined
  lines.push(`# ${prop.description ?? ''}`)
  if (!production) lines.push(`# ${key}=${fallback}`, '')
  else {
    const tags = [production.required ? 'required' : '', production.secret ? 'secret' : ''].filter(Boolean)
    lines.push(`# ${tags.length ? `(${tags.join(', ')}) ` : ''}${production.note}`)
    if (production.value !== undefined) lines.push(`${key}=${production.value}`, '')
    else lines.push(production.required || production.secret ? `${key}=` : `# ${key}=${fallback}`, '')
  }
}
process.stdout.write(`${lines.join('\n')}\n`)
