import { migrate } from '../src/db/migrate.js'
import { withClient } from './cli.js'
import { loadConfigOrExit } from '../src/config.js'

// npm run migrate: applies pending migrations (safe to run from several processes at once).
const applied = await withClient(loadConfigOrExit(), (client) => migrate(client))
process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n')
