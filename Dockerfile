# Tally service image: docker build -t tally . && docker run -p 4000:4000 tally
FROM node:20-slim

ENV NODE_ENV=production
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --include=dev

COPY . .
RUN npm run build && npm prune --omit=dev && npm cache clean --force

# snapshots and the embedded ingest log
RUN mkdir -p /data && chown node:node /data
ENV TALLY_DATA_DIR=/data
VOLUME ["/data"]

USER node
ENV PORT=4000
EXPOSE 4000
# V8 flags: see src/ops/node-flags.ts
CMD ["node", "--max-semi-space-size=2", "dist/main.js"]
