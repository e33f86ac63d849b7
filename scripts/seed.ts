import { parseArgs } from 'node:util'
import { migrate } from '../src/db/migrate.js'
import { seedCatalog } from '../src/db/seed.js'
import { fail, withClient } from './cli.js'
import { loadConfigOrExit } from '../src/config.js'

// npm run seed [-- --products N]: loads the demo catalog; a second run adds nothing.
const { values } = parseArgs({ options: { products: { type: 'string' } } })
const products = values.products === undefined ? 10_000 : Number(values.products)
if (!Number.isInteger(products) || products < 0 || products > 10_000_000)
  fail('--products must be an integer from 0 to 10000000')

const started = Date.now()
const result = await withClient(loadConfigOrExit(), async (client) => {
  await migrate(client)
  return seedCatalog(client, {
    products,
    onProgress: (done, total) => {
      const seconds = ((Date.now() - started) / 1000).toFixed(1)
      process.stderr.write(
        `\rseeding products: ${done}/${total} (${Math.floor((done / Math.max(total, 1)) * 100)}%) ${seconds} s`
      )
    }
  })
})
process.stderr.write('\n')
process.stdout.write(
  `categories: ${result.categories}, products inserted: ${result.productsInserted} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`
)
