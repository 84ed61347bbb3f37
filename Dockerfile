# syntax=docker/dockerfile:1

# live-feed-backend: build with dev dependencies, run with production dependencies only.
# Node 24 LTS (package.json engines: ^22.15.0 || >=24.11.0); the node:24 tags track the latest 24.x release.
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- stage 1: compile TypeScript to dist/, bundle the dashboard into public/dist/ --------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The client SDK: the server's build checks its frames against the SDK's wire types, the dashboard bundles it.
COPY packages ./packages
COPY web ./web
COPY public ./public
RUN npm run build

# ---- stage 2: runtime ---------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=3000
WORKDIR /app
# Production dependencies only. Files stay owned by root: the app user can read, not modify, them.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY --from=build /app/public ./public

USER node
EXPOSE 3000
# Liveness only (the process serves HTTP); readiness (Postgres + Redis) is GET /health/ready.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The young generation is capped at V8's classic 16 MB semi-spaces: on a host with a lot of memory V8
# sizes it from the heap limit (64 MB here), and a burst of new connections then makes all of it
# resident for good, ~8 KB per connection of a 10,000-connection burst (docs/ARCHITECTURE.md,
# "Idle memory per connection"). package.json's start:prod is the same command (a test checks).
CMD ["node", "--max-semi-space-size=16", "--import", "./dist/otel.js", "dist/main.js"]
