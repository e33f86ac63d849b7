import { parseArgs } from 'node:util'
import { ROLES, type Role } from '../src/modules/api-keys/schemas.js'
import { createApiKey, listAllApiKeys, revokeApiKey } from '../src/modules/api-keys/service.js'
import { systemContext } from '../src/writes/mutation.js'
import { sealWith } from '../src/writes/sealer.js'
import { fail, withClient } from './cli.js'
import { loadConfigOrExit } from '../src/config.js'

const USAGE = `usage:
  npm run apikey -- create --name NAME --role admin|editor|events
  npm run apikey -- list
  npm run apikey -- revoke ID`

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { name: { type: 'string' }, role: { type: 'string' } }
})
const [command, arg] = positionals

const config = loadConfigOrExit()
switch (command) {
  case 'create': {
    const name = values.name?.trim()
    const role = values.role as Role
    if (!name || name.length > 100) fail(`--name is required (1-100 characters)\n${USAGE}`)
    if (!ROLES.includes(role)) fail(`--role must be one of ${ROLES.join(', ')}\n${USAGE}`)
    const created = await withClient(config, async (c) => {
      const key = await createApiKey(c, { name, role }, systemContext('cli'))
      await sealWith(c) // no instance may be running to seal the entry
      return key
    })
    process.stdout.write(
      `created API key ${created.id} (${created.name}, ${created.role}). It is shown only now:\n${created.key}\n`
    )
    break
  }
  case 'list': {
    const keys = await withClient(config, (c) => listAllApiKeys(c))
    for (const k of keys) {
      process.stdout.write(
        `${k.id}\t${k.role}\t${k.name}\t${k.prefix}…\tcreated ${k.createdAt}\t${k.revokedAt ? `revoked ${k.revokedAt}` : `last used ${k.lastUsedAt ?? 'never'}`}\n`
      )
    }
    if (!keys.length) process.stdout.write('no API keys\n')
    break
  }
  case 'revoke': {
    const id = Number(arg)
    if (!Number.isInteger(id) || id < 1) fail(`revoke needs the key id\n${USAGE}`)
    const key = await withClient(config, async (c) => {
      const revoked = await revokeApiKey(c, id, systemContext('cli'))
      await sealWith(c)
      return revoked
    }).catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)))
    process.stdout.write(`revoked API key ${key.id} (${key.name})\n`)
    break
  }
  default:
    fail(USAGE)
}
