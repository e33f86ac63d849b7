import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { FastifyInstance } from 'fastify'
import type { ConnectionTarget } from '../../src/db/pool.js'
import { projectRoot } from '../../src/lib/project-root.js'
import type { AuditRow } from '../../src/writes/audit-log.js'
import { bearer } from '../helper.js'

export type LinkedRow = AuditRow & { position: number | null; prev_hash: Buffer | null; hash: Buffer | null }

/** Every audit entry in write (id) order with its chain link (null columns until sealed), read on the primary. */
export async function auditRows(app: FastifyInstance): Promise<LinkedRow[]> {
  return (
    await app.db.primary.query<LinkedRow>(
      `SELECT a.*, c.position, c.prev_hash, c.hash FROM audit_log a
         LEFT JOIN audit_chain c ON c.entry_id = a.id ORDER BY a.id`
    )
  ).rows
}

/** Creates a category through the API with `key` (one audit entry), asserting 201. */
export async function createCategory(app: FastifyInstance, key: string, name: string): Promise<void> {
  const res = await app.inject({ method: 'POST', url: '/api/v1/categories', headers: bearer(key), payload: { name } })
  assert.equal(res.statusCode, 201, res.body)
}

/** The sealed entries in chain (position) order. */
export async function chainRows(app: FastifyInstance): Promise<(LinkedRow & { position: number; hash: Buffer })[]> {
  return (
    await app.db.primary.query<LinkedRow & { position: number; hash: Buffer }>(
      `SELECT a.*, c.position, c.prev_hash, c.hash FROM audit_chain c
         JOIN audit_log a ON a.id = c.entry_id ORDER BY c.position`
    )
  ).rows
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
  target: ConnectionTarget,
  env: Record<string, string> = {}
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `scripts/${file}`, ...args], {
      cwd: projectRoot(),
      env: { PATH: process.env.PATH, DOTENV_CONFIG_PATH: '/nonexistent', LOG_LEVEL: 'warn', ...dbEnv(target), ...env },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('exit', (code) => resolve({ code, out }))
  })
}
