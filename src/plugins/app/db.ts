import fp from 'fastify-plugin'
import { createDatabase, type Database } from '../../db/database.js'
import { createPool } from '../../db/pool.js'
import { createCursorCodec, type CursorCodec } from '../../lib/cursor.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Database
    cursors: CursorCodec
  }
}

// Used only where CURSOR_SECRET is unset (development, tests); production sets its own.
const DEVELOPMENT_CURSOR_SECRET = 'catalog-api-development-cursor-secret'

export default fp(
  async (app) => {
    const { config, database } = app.appOptions
    const primary = createPool(config, database, { max: config.DB_POOL_MAX, name: 'primary', log: app.log })
    app.decorate('db', createDatabase(primary))
    if (!config.CURSOR_SECRET && config.NODE_ENV === 'production') {
      app.log.warn('CURSOR_SECRET is not set: pagination cursors are signed with a public development key')
    }
    app.decorate('cursors', createCursorCodec(config.CURSOR_SECRET ?? DEVELOPMENT_CURSOR_SECRET, 'catalog-api'))
    app.addHook('onClose', async () => {
      await app.db.close()
    })
  },
  { name: 'db' }
)
