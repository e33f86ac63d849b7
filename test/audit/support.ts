import { spawn } from 'node:child_process'
import type { FastifyInstance } from 'fastify'
import type { ConnectionTarget } from '../../src/db/pool.js'
import { projectRoot } from '../../src/lib/project-root.js'
import type { AuditRow } from '../../src/modules/audit/repository.js'

/** Every audit entry, in chain order, read on the primary. */
export async function auditRows(app: FastifyInstance): Promise<AuditRow[]> {
  return (await app.db.primary.query<AuditRow>('SELECT * FROM audit_log ORDER BY id')).rows
}

export const dbEnv = (target: ConnectionTarget) => ({
  DB_HOST: target.host,
  DB_PORT: String(target.port),
  DB_USER: target.user,
  DB_PASSWORD: target.password,
  DB_NAME: target.database
})

/** Runs an npm script's TypeScript entry (scripts/<file>) against `target`; resolves with its exit code and output. */
export function runScript(
  file: string,
  args: string[],
  target: ConnectionTarget
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `scripts/${file}`, ...args], {
      cwd: projectRoot(),
      env: { PATH: process.env.PATH, DOTENV_CONFIG_PATH: '/nonexistent', LOG_LEVEL: 'warn', ...dbEnv(target) },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('exit', (code) => resolve({ code, out }))
  })
}
