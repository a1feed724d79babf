# syntax=docker/dockerfile:1
# One image for both long-running processes of polar-runbook (see docker-compose.yml):
#   node dist/workers/worker.js   the Temporal worker (compiled, prebuilt workflow bundle)
#   npm run webhook               the alert receiver: Alertmanager / Grafana webhooks -> recoveries
# Build: docker build -t polar-runbook .

# The static docker CLI, for clusters whose hosts use the `docker` transport (docker exec into the
# database containers). It does nothing unless the Docker socket is mounted (see docker-compose.yml).
FROM docker:27-cli AS docker-cli

FROM node:20-bookworm-slim

# openssh-client: the `ssh` transport (BatchMode, strict host key checking; see lib/hosts/ssh.ts).
# tini: PID 1 that forwards SIGTERM to npm -> node (the webhook drains in-flight deliveries on it)
#       and reaps the ssh / docker client processes the worker spawns.
# ca-certificates: notify-only alerts are posted to https chat webhooks.
# The database tools (psql, pg_basebackup, ...) run on the database hosts, not here: the worker talks
# to PostgreSQL with the `pg` driver and runs every other command through the host's transport.
RUN apt-get update \
  && apt-get install -y --no-install-recommends openssh-client tini ca-certificates \
  && rm -rf /var/lib/apt/lists/*
COPY --from=docker-cli /usr/local/bin/docker /usr/local/bin/docker

# Where docker-compose.yml mounts the key and known_hosts (./deploy/ssh). A cluster spec may name
# them itself (host.identityFile / host.knownHostsFile); this makes them the defaults.
RUN printf '%s\n' \
    'IdentityFile /etc/polar-runbook/ssh/id_ed25519' \
    'IdentityFile /etc/polar-runbook/ssh/id_rsa' \
    'UserKnownHostsFile /etc/polar-runbook/ssh/known_hosts' \
    >/etc/ssh/ssh_config.d/polar-runbook.conf \
  && mkdir -p /etc/polar-runbook/clusters /var/log/polar-runbook \
  && chown node:node /var/log/polar-runbook

WORKDIR /app

# All dependencies, dev ones included, on purpose: the webhook and the CLI run the TypeScript
# sources through `node --import tsx` (tsx is a devDependency), and `npm run build` needs tsc. `npm ci --omit=dev` would
# leave an image whose `npm run worker` fails with "Cannot find package 'tsx'".
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error && npm cache clean --force

COPY . .

# The worker runs compiled: `npm run build` compiles to dist/ and bundles the workflow code once,
# here, so a worker (a restarted one, or the second replica) polls within about a second of its
# start instead of bundling the workflows first (seconds, on a loaded host).
RUN npm run build

# Non-root by default: the ssh and docker transports need no privileges on this side. Only the
# `local` transport (commands act on this container itself) or the lab (loop devices, mounts)
# needs root; docker-compose.yml shows how to run the worker as root, privileged, for that.
# The named volume mounted at /var/log/polar-runbook starts out owned by node (see above).
USER node

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/workers/worker.js"]
