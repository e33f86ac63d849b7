import { verifyChain } from '../src/writes/verify.js'
import { withClient } from './cli.js'
import { loadConfigOrExit } from '../src/config.js'

// npm run audit:verify — walks the sealed audit hash chain from the oldest kept entry, then looks for entries
// unsealed longer than AUDIT_SEAL_MAX_DELAY_MS; exit 1 at the first problem.
const config = loadConfigOrExit()
const result = await withClient(config, (client) => verifyChain(client, { maxDelayMs: config.AUDIT_SEAL_MAX_DELAY_MS }))
if (result.ok) {
  const chain = result.checked
    ? `${result.checked} entries (positions ${result.firstPosition}..${result.lastPosition})`
    : 'no sealed entries'
  const waiting = result.unsealed ? `; ${result.unsealed} newer entries await sealing` : ''
  process.stdout.write(`audit chain intact: ${chain}${waiting}\n`)
} else {
  const where = [
    result.position === null ? undefined : `position ${result.position}`,
    result.entryId === null ? undefined : `entry ${result.entryId}`
  ]
    .filter(Boolean)
    .join(', ')
  process.stderr.write(`audit chain BROKEN at ${where} (${result.problem}): ${result.message}\n`)
  process.exitCode = 1
}
