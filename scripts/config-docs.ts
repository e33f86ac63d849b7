import { ConfigSchema } from '../src/config.js'

// npm run config:docs — prints the configuration as .env.example (default) or as a Markdown table (--markdown).
type Prop = { description?: string; default?: string | number | boolean; enum?: unknown[] }
const props = ConfigSchema.properties as unknown as Record<string, Prop>
const markdown = process.argv.includes('--markdown')

const lines: string[] = markdown
  ? ['| Variable | Default | Meaning |', '| --- | --- | --- |']
  : ['# Every variable is optional; the values shown are the defaults. Copy to .env and edit.', '']
for (const [key, prop] of Object.entries(props)) {
  const fallback = prop.default === undefined ? '' : String(prop.default)
  if (markdown) lines.push(`| \`${key}\` | ${fallback === '' ? '—' : `\`${fallback}\``} | ${prop.description ?? ''} |`)
  else lines.push(`# ${prop.description ?? ''}`, `# ${key}=${fallback}`, '')
}
process.stdout.write(`${lines.join('\n')}\n`)
