# Mauth container image: compiled with the dev dependencies, run on Node 22 LTS (Debian bookworm,
# slim) with the production dependencies only, as the unprivileged `node` user (uid 1000).
#
#   docker build -t mauth:local .
#   docker run --rm mauth:local config generate > config.yaml
#   docker run --rm -v ./config.yaml:/config/config.yaml:ro -e MAUTH_CONFIG=/config/config.yaml \
#     -p 8080:8080 mauth:local
#
# Step by step with PostgreSQL and a mail catcher: docs/docker.md (docker-compose.yml).

# --- build: TypeScript → dist/ -------------------------------------------------------------
FROM node:22.23.4-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: our `prepare` script would run the build before the sources are copied, and
# no build tool needs an install script (tsc ships per-platform binaries as packages).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- deps: production node_modules ---------------------------------------------------------
FROM node:22.23.4-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts skips our `prepare` (a build that needs the dev dependencies). The only
# production dependency with an install script is argon2 (`allowScripts` in package.json): run it
# on its own. It keeps the prebuilt binary shipped in the package when that binary loads, and
# otherwise tries to compile, which fails here (no compiler in slim) instead of at run time.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm rebuild argon2 \
 && node -e "require('argon2').hash('probe').then(() => console.log('argon2: native binary loads'))" \
 && npm cache clean --force

# --- runtime ---------------------------------------------------------------------------------
FROM node:22.23.4-bookworm-slim AS runtime
ENV NODE_ENV=production
# glibc malloc: serve every allocation of 1 MiB or more with its own mmap, returned to the system
# when freed. Each argon2id hash allocates 19 MiB on one of libuv's threads; by default glibc raises
# its mmap threshold to the size of the first such block freed, so later ones come from the arena
# of whichever thread runs the hash, and every thread's arena keeps its 19 MiB or more for good:
# about +75 MB of RSS after a login burst (RSS 2 s after a burst, `npm run bench -- login`: about
# 265–300 MB without this, 150–175 MB with it). A fixed threshold turns that adjustment off.
# (MALLOC_ARENA_MAX=2 alone left about 225 MB.)
ENV MALLOC_MMAP_THRESHOLD_=1048576
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# package.json: "type": "module" for bin/ and dist/. templates/ (pages, e-mails, /assets) and
# migrations/ are read at run time, relative to dist/ (src/web/render.ts, src/storage/migrate.ts).
COPY package.json ./
COPY bin ./bin
COPY templates ./templates
COPY migrations ./migrations
# `mauth` on PATH; /data is the working directory the `node` user may write to (the embedded
# database's ./data and a generated development configuration land there when no
# configuration is given). The application files stay root-owned and read-only to it.
RUN chmod 0755 /app/bin/mauth.js \
 && ln -s /app/bin/mauth.js /usr/local/bin/mauth \
 && mkdir /data \
 && chown node:node /data
WORKDIR /data
# The official image's `node` user, numeric so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000

# The public listener (`web`, [::]:8080 in a generated configuration, which accepts IPv4 too).
EXPOSE 8080
# /health is served by the `internal` listener (localhost:8081 in a generated configuration);
# set MAUTH_HEALTHCHECK_URL when the configuration serves it elsewhere. Slim has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.MAUTH_HEALTHCHECK_URL || 'http://localhost:8081/health', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["mauth"]
CMD ["server"]
