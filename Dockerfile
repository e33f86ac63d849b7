# syntax=docker/dockerfile:1
# Production image: compiled JavaScript and the production dependencies the service loads, run by a non-root user
# with tini as PID 1. Checked by test/image/dockerfile.test.ts; its contents are rebuilt and run, without Docker, by
# test/image/image.test.ts. Node 24 LTS, the exact release pinned; the code also runs on Node 20.19+ for development.

# Compiles src/ and scripts/ to dist/ (needs the dev dependencies: TypeScript).
FROM node:24.20.0-trixie-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts ./scripts
RUN npm run build

# Production dependencies only: no dev dependencies, no optional ones (the embedded PostgreSQL, used only without
# DB_HOST), no install scripts; then what the service never loads is removed (scripts/prune-production.mjs).
FROM node:24.20.0-trixie-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/prune-production.mjs ./scripts/
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund \
  && node scripts/prune-production.mjs /app \
  && npm cache clean --force

FROM node:24.20.0-trixie-slim AS runtime
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
# npm only runs the package scripts here: no update check, no log files (the root filesystem may be read-only).
ENV NODE_ENV=production PORT=5000 NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_LOGS_MAX=0 NPM_CONFIG_FUND=false
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY migrations ./migrations
# The launcher behind `npm run migrate|seed|apikey|audit:verify|backup|restore`: runs dist/scripts/<command>.js.
COPY scripts/run.mjs ./scripts/run.mjs
# Files stay owned by root and read-only to the service; it writes nothing to its own folder.
USER node
EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||5000)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form behind tini: SIGTERM reaches Node, which drains and exits 0 (docs/operations.md, Shutdown).
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--import", "./dist/src/instrument.js", "dist/src/server.js"]
