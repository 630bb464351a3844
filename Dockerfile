# syntax=docker/dockerfile:1
# Latchkey's production image: built in one stage, run from a slim stage that holds only the
# compiled code, the production dependencies, the views and the static files, as a non-root user.

FROM node:24-bookworm-slim AS build
WORKDIR /app
ENV npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
COPY package.json package-lock.json ./
# The workspace package's manifest too: npm ci links @latchkey/resource (packages/resource).
COPY packages/resource/package.json ./packages/resource/
# Dependencies first, in their own layer, so that a source change does not reinstall them.
# --ignore-scripts: the root `prepare` script (a build) would run before the sources are here, and
# the `node` devDependency would download a second Node 24 that this image already has (argon2
# loads its prebuilt N-API binary without an install step). Its dangling bin link is removed so
# that npm scripts run on the image's node.
RUN npm ci --ignore-scripts && rm -f node_modules/.bin/node
COPY . .
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and read-only to the server: the running process cannot alter its own code.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
# node_modules/@latchkey/resource links here: the checker package's manifest and build.
COPY --from=build /app/packages/resource/package.json ./packages/resource/
COPY --from=build /app/packages/resource/dist ./packages/resource/dist
COPY --from=build /app/dist ./dist
COPY --from=build /app/views ./views
COPY --from=build /app/public ./public
# The only writable place, for the default SQLite store (DATABASE_URL=sqlite:./data/latchkey.db);
# mount a volume here if you use it. With MongoDB nothing is written to the container.
RUN mkdir -p data && chown node:node data
USER node
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT || 3000}/healthz`, { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Not `npm start`: its prestart would rebuild, and npm would stand between the signals and node.
# The server's memory settings, as `npm start` gives them (src/http/memory-settings.ts).
ENV MALLOC_ARENA_MAX=2
CMD ["node", "--max-semi-space-size=16", "dist/src/main.js"]
