# tollgate in a container: built in one stage (dev dependencies, TypeScript, the console), run
# from a second with production dependencies only, as the unprivileged `node` user.
#   docker build -t tollgate .
#   docker run -p 8787:8787 -v tollgate-data:/var/lib/tollgate \
#     -e ANTHROPIC_API_KEY -e TOLLGATE_ADMIN_TOKEN tollgate
# With a config file: -v ./tollgate.yaml:/etc/tollgate/tollgate.yaml:ro (TOLLGATE_CONFIG points there).
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    TOLLGATE_CONFIG=/etc/tollgate/tollgate.yaml
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/bin ./bin
COPY --from=build /src/data ./data
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/dist/console ./dist/console
# The embedded store (./data/tollgate.db from the working directory) lives on a volume.
RUN mkdir -p /var/lib/tollgate /etc/tollgate && chown node:node /var/lib/tollgate
WORKDIR /var/lib/tollgate
VOLUME /var/lib/tollgate
USER node
EXPOSE 8787
# Liveness from inside the container (no curl in the slim image: Node's fetch).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8787/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/bin/tollgate.js"]
CMD ["serve", "--host", "0.0.0.0"]
