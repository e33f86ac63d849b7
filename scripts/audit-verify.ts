import { verifyChain } from '../src/modules/audit/service.js'
import { cliConfig, withClient } from './cli.js'

// npm run audit:verify — walks the audit hash chain from the oldest kept entry; exit 1 at the first broken entry.
const result = await withClient(cliConfig(), (client) => verifyChain(client))
if (result.ok) {
  process.stdout.write(
    result.checked
      ? `audit chain intact: ${result.checked} entries (${result.firstId}..${result.lastId})\n`
      : 'audit chain intact: no entries\n'
  )
} else {
  process.stderr.write(`audit chain BROKEN at entry ${result.entryId} (${result.problem}): ${result.message}\n`)
  process.exitCode = 1
}
