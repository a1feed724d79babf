// A drill's sandbox on the hosts: made (dir, marker, owners), filled (a copy of every disk, taken
// under fsfreeze or by the spec's snapshot command), and taken away again. Everything is selected
// by the sandbox dir, which carries the drill's marker; production is only ever read, and frozen
// for the length of one copy.
import type { ClusterSpec, NodeSpec } from './model/spec.js';
import { copyMethodOf, nodeNamed, primaryOf } from './model/spec.js';
import { DRILL_MARKER, DrillFailureTypes } from './model/drill.js';
import { within } from './model/paths.js';
import type { DiskCopy, Sandbox } from './model/sandbox.js';
import { failure as baseFailure } from './failures.js';
import type { Cmd, Host } from './hosts/types.js';
import { must, type Journal, type Progress } from './ops.js';
import { primaryConninfo, quoteConf } from './profiles/common.js';
import { profileOf } from './profiles/index.js';
import type { Probe } from './profiles/types.js';

const T = 60_000;
const PLAIN_PATH = /^\/[A-Za-z0-9_.+@:=,/-]*$/;
/** The Sandbox (sandboxSpec's result) as JSON, in the sandbox dir. */
export const SANDBOX_FILE = 'sandbox.json';

export const drillFailure = (type: keyof typeof DrillFailureTypes, message: string, retryable = false) =>
  baseFailure(type, message, retryable);

const root = (argv: string[], timeoutMs = T): Cmd => ({ argv, as: 'root', timeoutMs });
const ok = async (host: Host, argv: string[]): Promise<boolean> => (await host.run(root(argv))).exitCode === 0;

/** The hosts the sandbox spans, each with the sandbox nodes it runs (by the host's transport). */
export function hostsOf(spec: ClusterSpec, hostFor: (n: NodeSpec) => Host): { host: Host; nodes: NodeSpec[] }[] {
  const by = new Map<string, { host: Host; nodes: NodeSpec[] }>();
  for (const n of spec.nodes) {
    const key = JSON.stringify(n.host);
    const e = by.get(key);
    if (e) e.nodes.push(n);
    else by.set(key, { host: hostFor(n), nodes: [n] });
  }
  return [...by.values()];
}

export const markerText = (sb: Sandbox, run: { workflowId: string; runId: string }): string =>
  `drill=${run.workflowId}\nrun=${run.runId}\ncluster=${sb.cluster}\nsandbox=${sb.sandboxCluster}\n`;

/** Makes the sandbox dir and its marker on a host; a dir that is there must be this run's own. */
export async function makeSandboxDir(host: Host, sb: Sandbox, marker: string, owned: Sandbox['dirs'], j: Journal): Promise<void> {
  await must(host, root(['mkdir', '-p', '--', sb.root]), j);
  const made = await host.run(root(['mkdir', '-m', '0755', '--', sb.dir]));
  if (made.exitCode === 0) {
    j.ran(host.name, `root$ mkdir -m 0755 -- ${sb.dir}`);
    await must(host, { argv: ['tee', '--', sb.marker], as: 'root', input: marker, timeoutMs: T }, j);
  } else {
    const r = await host.run(root(['cat', '--', sb.marker]));
    if (r.exitCode !== 0) throw drillFailure('SandboxConflict', `on ${host.name}: ${sb.dir} exists and has no ${DRILL_MARKER} marker`);
    if (r.stdout.trim() !== marker.trim())
      throw drillFailure(
        'SandboxConflict',
        `on ${host.name}: ${sb.dir} belongs to another drill (${r.stdout.trim().replace(/\n/g, ', ')})`,
      );
    j.skipped.push(`${host.name}: ${sb.dir} already made by this drill`);
  }
  await must(host, root(['mkdir', '-p', '--', `${sb.dir}/images`, `${sb.dir}/mnt`, `${sb.dir}/prep`]), j);
  // What a kept sandbox is, for `polar-runbook drill teardown <dir>` (no secret in it: the spec only names the password file).
  await must(host, {
    argv: ['tee', '--', `${sb.dir}/${SANDBOX_FILE}`],
    as: 'root',
    input: JSON.stringify(sb, null, 2) + '\n',
    timeoutMs: T,
  });
  const done = new Set<string>();
  for (const d of owned) {
    if (done.has(d.path)) continue;
    done.add(d.path);
    await must(host, root(['install', '-d', '-o', d.owner, '-g', d.owner, '-m', '0755', '--', d.path]), j);
  }
}

/** Mount points of the filesystems on the loop devices bound to `image` (what must be frozen to copy it). */
async function mountsOfImage(host: Host, image: string): Promise<string[]> {
  const loops = [...(await must(host, root(['losetup', '-j', image]))).stdout.matchAll(/^(\/dev\/loop\d+):/gm)].map((m) => m[1]!);
  const targets: string[] = [];
  for (const loop of loops) {
    const r = await host.run(root(['findmnt', '-rn', '-o', 'TARGET', '-S', loop]));
    // One mount per filesystem is enough (and a second freeze of the same filesystem would fail).
    const first = r.stdout.split('\n').find(Boolean);
    if (r.exitCode === 0 && first) targets.push(first);
  }
  return targets;
}

/** The mount point of the filesystem that holds `path`. */
async function mountOf(host: Host, path: string): Promise<string> {
  return (await must(host, root(['findmnt', '-n', '-o', 'TARGET', '-T', path]))).stdout.trim();
}

/**
 * Copies each image to its partial copy with every mount of every image frozen at once: one
 * instant for all the disks of a host, as a power cut would leave them (PostgreSQL recovers from
 * that), so the copied standby is never ahead of the copied primary. The script thaws on any exit
 * it sees, and stops copying after `secs` seconds: production is never frozen longer than that.
 * Arguments: secs, the number of pairs, the pairs (image partial), then the mount points to freeze.
 * (Every path is a plain path from the spec or the sandbox: no spaces, no glob characters.)
 */
const FREEZE_COPY = `set -u
secs=$1; n=$2; shift 2
pairs=
while [ "$n" -gt 0 ]; do pairs="$pairs $1 $2"; shift 2; n=$((n - 1)); done
frozen=
thaw() { for m in $frozen; do fsfreeze -u "$m" || echo "cannot unfreeze $m" >&2; done; frozen=; }
trap thaw EXIT
trap 'exit 143' HUP INT TERM
t0=$(date +%s%3N)
end=$(( $(date +%s) + secs ))
for m in "$@"; do
  fsfreeze -f "$m" || exit 90
  frozen="$frozen $m"
done
set -- $pairs
rc=0
while [ $# -gt 0 ]; do
  left=$(( end - $(date +%s) ))
  if [ "$left" -le 0 ]; then rc=137; break; fi
  timeout -s KILL "$left" cp --sparse=always --reflink=auto -- "$1" "$2" || { rc=$?; break; }
  shift 2
done
thaw
echo "frozen_ms=$(( $(date +%s%3N) - t0 ))"
exit $rc`;

/**
 * The PFS equivalent of FREEZE_COPY: every pfsdaemon serving the disks is SIGSTOPped (and seen
 * stopped), the loop devices' in-flight I/O drains and their buffers are flushed, the images are
 * copied, and the daemons get SIGCONT on every exit the script sees. A watchdog in its own
 * session sends SIGCONT after the bound even if this script is killed outright. Nothing runs past
 * `secs` seconds: production never stalls longer than that.
 * Arguments: secs, the number of pairs, the pairs (image partial), the number of loop devices,
 * the loop devices, then the pfsdaemon pids.
 */
const PFSD_FREEZE_COPY = `set -u
secs=$1; n=$2; shift 2
pairs=
while [ "$n" -gt 0 ]; do pairs="$pairs $1 $2"; shift 2; n=$((n - 1)); done
n=$1; shift
loops=
while [ "$n" -gt 0 ]; do loops="$loops $1"; shift; n=$((n - 1)); done
pids="$*"
stopped=
wd=
resume() {
  [ -n "$stopped" ] && { kill -CONT $stopped 2>/dev/null; echo "resumed $stopped" >&2; }
  stopped=
  [ -n "$wd" ] && /bin/kill -TERM -- "-$wd" 2>/dev/null
  wd=
}
trap resume EXIT
trap 'exit 143' HUP INT TERM
t0=$(date +%s%3N)
end=$(( t0 + secs * 1000 ))
now() { date +%s%3N; }
if [ -n "$pids" ]; then
  setsid sh -c 'sleep "$1"; shift; kill -CONT "$@"' pfsd-freeze-watchdog $((secs + 5)) $pids </dev/null >/dev/null 2>&1 &
  wd=$!
  stopped=$pids
  kill -STOP $pids || exit 90
  for p in $pids; do
    while [ "$(cut -d' ' -f3 "/proc/$p/stat" 2>/dev/null)" != T ] && [ -e "/proc/$p" ]; do
      [ "$(now)" -ge "$end" ] && { echo "pfsdaemon $p did not stop" >&2; exit 137; }
      sleep 0.01
    done
  done
fi
for l in $loops; do
  b=\${l#/dev/}
  while :; do
    read r w < "/sys/block/$b/inflight" || exit 91
    [ "$r" = 0 ] && [ "$w" = 0 ] && break
    [ "$(now)" -ge "$end" ] && { echo "in-flight I/O on $l did not drain" >&2; exit 137; }
    sleep 0.01
  done
  blockdev --flushbufs "$l" || exit 91
done
echo "drained_ms=$(( $(date +%s%3N) - t0 ))"
set -- $pairs
rc=0
while [ $# -gt 0 ]; do
  left=$(( end - $(now) ))
  if [ "$left" -le 0 ]; then rc=137; break; fi
  timeout -s KILL "$((left / 1000)).$(printf %03d $((left % 1000)))" cp --sparse=always --reflink=auto -- "$1" "$2" || { rc=$?; break; }
  shift 2
done
resume
echo "frozen_ms=$(( $(date +%s%3N) - t0 ))"
exit $rc`;

interface CopyResult {
  disk: string;
  kind: 'image' | 'device';
  method: 'fsfreeze+cp' | 'cp' | 'snapshotCommand' | 'pfsd-freeze+cp';
  frozen: string[];
  /** pfsd-freeze: the pfsdaemon pids stopped for the copy. */
  stopped?: number[];
  frozenMs?: number;
  bytes?: number;
  ms: number;
}

/** While `p` runs, reports how far the copy got. */
async function watching<T>(host: Host, partial: string, disk: string, p: Promise<T>, progress: Progress): Promise<T> {
  let done = false;
  let wake = () => {};
  const woken = new Promise<void>((r) => (wake = r));
  const watch = (async () => {
    while (!done) {
      await Promise.race([progress.sleep(2000), woken]);
      if (done) break;
      const r = await host.run(root(['stat', '-c', '%s', '--', partial], 10_000));
      progress.beat({ copying: disk, bytes: r.exitCode === 0 ? Number(r.stdout.trim()) : 0 });
    }
  })();
  try {
    return await p;
  } finally {
    done = true;
    wake();
    await watch.catch(() => {});
  }
}

/** Leftovers of an attempt that stopped halfway: the prep mount, loops on the partial copy, the partial copy. */
async function clearPartial(host: Host, sb: Sandbox, c: DiskCopy, j: Journal): Promise<void> {
  const partial = `${c.target}.partial`;
  const prep = `${sb.dir}/prep/${c.disk.diskName}`;
  if (await ok(host, ['mountpoint', '-q', prep])) await must(host, root(['umount', '--', prep]), j);
  if (await ok(host, ['test', '-f', partial])) {
    for (const m of (await must(host, root(['losetup', '-j', partial]))).stdout.matchAll(/^(\/dev\/loop\d+):/gm))
      await must(host, root(['losetup', '-d', m[1]!]), j);
  }
  if (await ok(host, ['test', '-e', partial])) await must(host, root(['rm', '-f', '--', partial]), j);
  if (await ok(host, ['test', '-L', partial])) await must(host, root(['rm', '-f', '--', partial]), j);
}

/**
 * The copy holds the production postmaster's postmaster.pid, whose PID is alive on this very
 * machine: PostgreSQL would refuse to start on it ("lock file already exists"). A copy restored on
 * another host would not have that problem; in the sandbox the stale lock file is removed from
 * the copy (never from production).
 */
async function prepCopy(host: Host, sb: Sandbox, c: DiskCopy, devicePath: string | undefined, j: Journal): Promise<void> {
  if (!c.source.mountPoint || !c.source.dataDir) return;
  const partial = `${c.target}.partial`;
  const prep = `${sb.dir}/prep/${c.disk.diskName}`;
  let loop: string | undefined;
  try {
    const dev = devicePath ?? (loop = (await must(host, root(['losetup', '-f', '--show', partial]), j)).stdout.trim());
    await must(host, root(['mkdir', '-p', '--', prep]), j);
    await must(host, root(['mount', dev, prep], 5 * 60_000), j);
    try {
      const rel = c.source.dataDir.slice(c.source.mountPoint.replace(/\/+$/, '').length);
      await must(host, root(['rm', '-f', '--', `${prep}${rel}/postmaster.pid`]), j);
    } finally {
      await must(host, root(['umount', '--', prep]), j);
    }
  } finally {
    if (loop) await must(host, root(['losetup', '-d', loop]), j);
  }
  await must(host, root(['rmdir', '--', prep]), j);
}

/** Moves a finished partial copy into place (its final name means: done) and notes it. */
async function finish(host: Host, c: DiskCopy, result: CopyResult, started: number, j: Journal): Promise<CopyResult> {
  const partial = `${c.target}.partial`;
  const size = await host.run(root(['stat', '-L', '-c', '%s', '--', partial]));
  if (size.exitCode === 0) result.bytes = Number(size.stdout.trim());
  await must(host, root(['mv', '-T', '--', partial, c.target]), j);
  j.changed = true;
  j.verified.push(`${host.name}: ${c.source.image ?? c.source.device} copied to ${c.target} (${result.method})`);
  result.ms = Date.now() - started;
  return result;
}

/** The spec's snapshot command, one disk at a time (consistency across disks is the command's: a SAN consistency group). */
async function snapshotByCommand(host: Host, spec: ClusterSpec, sb: Sandbox, c: DiskCopy, j: Journal): Promise<CopyResult> {
  const started = Date.now();
  const partial = `${c.target}.partial`;
  const source = c.source.image ?? c.source.device!;
  const argv = spec.drill!.snapshotCommand!.map((w) =>
    w
      .replace(/\{image\}/g, source)
      .replace(/\{target\}/g, partial)
      .replace(/\{disk\}/g, c.source.diskName),
  );
  await watching(host, partial, c.disk.diskName, must(host, root(argv, 6 * 3600_000), j), j.progress);
  if (!(await ok(host, ['test', '-e', partial])))
    throw drillFailure('SnapshotFailed', `on ${host.name}: ${argv.join(' ')} succeeded but left nothing at ${partial}`);
  const isDev = await ok(host, ['test', '-b', partial]);
  if (!isDev && !(await ok(host, ['test', '-f', partial])))
    throw drillFailure('SnapshotFailed', `on ${host.name}: ${partial} is neither an image file nor a block device`);
  if (profileOf(spec).dataDirOnHost) await prepCopy(host, sb, c, isDev ? partial : undefined, j);
  return finish(
    host,
    c,
    { disk: c.disk.diskName, kind: isDev ? 'device' : 'image', method: 'snapshotCommand', frozen: [], ms: 0 },
    started,
    j,
  );
}

/** The images of one host's disks, copied under one freeze of all their mounts. */
async function freezeAndCopy(host: Host, spec: ClusterSpec, sb: Sandbox, copies: DiskCopy[], j: Journal): Promise<CopyResult[]> {
  const started = Date.now();
  const frozen: string[] = [];
  for (const c of copies) {
    const image = c.source.image!;
    if (!(await ok(host, ['test', '-f', image]))) throw drillFailure('SnapshotFailed', `on ${host.name}: the image ${image} is not there`);
    for (const m of await mountsOfImage(host, image)) {
      if (!PLAIN_PATH.test(m) || m === '/')
        throw drillFailure('SnapshotFailed', `on ${host.name}: refusing to freeze ${JSON.stringify(m)}`);
      if (!frozen.includes(m)) frozen.push(m);
    }
  }
  // The copies must not be written into a frozen filesystem: they would wait until the time limit.
  const targetFs = await mountOf(host, `${sb.dir}/images`);
  if (frozen.includes(targetFs))
    throw drillFailure(
      'SandboxConflict',
      `the sandbox ${sb.dir} lies on ${targetFs}, a filesystem the copy freezes: choose another drill.sandboxRoot`,
    );
  const secs = spec.drill?.maxFreezeSeconds ?? 300;
  const pairs = copies.flatMap((c) => [c.source.image!, `${c.target}.partial`]);
  const cmd = root(['sh', '-c', FREEZE_COPY, 'freeze-copy', String(secs), String(copies.length), ...pairs, ...frozen], (secs + 120) * 1000);
  let r: Awaited<ReturnType<Host['run']>> | undefined;
  try {
    r = await watching(host, `${copies.at(-1)!.target}.partial`, copies.map((c) => c.disk.diskName).join(', '), host.run(cmd), j.progress);
    const cps = copies.map((c) => `cp --sparse=always --reflink=auto -- ${c.source.image} ${c.target}.partial`).join('; ');
    j.ran(host.name, `root$ ${frozen.length ? `fsfreeze -f ${frozen.join(' ')}; ${cps}; fsfreeze -u ${frozen.join(' ')}` : cps}`);
  } finally {
    // The script thaws on every exit it sees; one it cannot see (killed from outside) is thawed here.
    if (!r || r.timedOut) for (const m of frozen) await host.run(root(['fsfreeze', '-u', m]));
  }
  const images = copies.map((c) => c.source.image).join(', ');
  if (r.exitCode === 90)
    throw drillFailure('SnapshotFailed', `on ${host.name}: fsfreeze -f failed (${r.stderr.trim()}); nothing stays frozen`, true);
  if (r.exitCode === 137 || r.exitCode === 124)
    throw drillFailure(
      'SnapshotFailed',
      `on ${host.name}: copying ${images} took longer than drill.maxFreezeSeconds = ${secs} s; it was stopped and ${frozen.join(', ') || 'nothing'} unfrozen (use a snapshot command, or a filesystem with reflinks)`,
    );
  if (r.exitCode !== 0)
    throw drillFailure(
      'SnapshotFailed',
      `on ${host.name}: copying ${images} failed (exit ${r.exitCode}: ${r.stderr.trim().slice(-500)})`,
      true,
    );
  const frozenMs = Number(/frozen_ms=(\d+)/.exec(r.stdout)?.[1] ?? NaN);
  const out: CopyResult[] = [];
  for (const c of copies) {
    await prepCopy(host, sb, c, undefined, j);
    const result: CopyResult = {
      disk: c.disk.diskName,
      kind: 'image',
      method: frozen.length ? 'fsfreeze+cp' : 'cp',
      frozen,
      ms: 0,
      ...(frozen.length ? { frozenMs } : {}),
    };
    out.push(await finish(host, c, result, started, j));
  }
  return out;
}

/** The loop devices bound to `image`. */
async function loopsOf(host: Host, image: string): Promise<string[]> {
  return [...(await must(host, root(['losetup', '-j', image]))).stdout.matchAll(/^(\/dev\/loop\d+):/gm)].map((m) => m[1]!);
}

/** The images of one host's PFS disks, copied while every pfsdaemon serving them is stopped. */
async function pfsdFreezeAndCopy(host: Host, spec: ClusterSpec, _sb: Sandbox, copies: DiskCopy[], j: Journal): Promise<CopyResult[]> {
  const started = Date.now();
  // pfsd-freeze is for profiles that serve a disk through a daemon (the spec refuses it for others).
  const daemon = profileOf(spec).diskDaemon!;
  const loops: string[] = [];
  const pids: number[] = [];
  for (const c of copies) {
    const image = c.source.image!;
    if (!(await ok(host, ['test', '-e', image])) || (await ok(host, ['test', '-d', image])))
      throw drillFailure('SnapshotFailed', `on ${host.name}: the image ${image} is not there`);
    for (const l of await loopsOf(host, image)) if (!loops.includes(l)) loops.push(l);
    // By its command line, never by its pid file (which holds the pid from before it forked).
    const r = await host.run({ ...daemon(c.source), timeoutMs: T });
    for (const p of r.stdout.split('\n').filter((x) => /^\d+$/.test(x))) if (!pids.includes(Number(p))) pids.push(Number(p));
  }
  const secs = spec.drill?.maxFreezeSeconds ?? 300;
  const pairs = copies.flatMap((c) => [c.source.image!, `${c.target}.partial`]);
  const cmd = root(
    [
      'sh',
      '-c',
      PFSD_FREEZE_COPY,
      'pfsd-freeze-copy',
      String(secs),
      String(copies.length),
      ...pairs,
      String(loops.length),
      ...loops,
      ...pids.map(String),
    ],
    (secs + 120) * 1000,
  );
  let r: Awaited<ReturnType<Host['run']>> | undefined;
  try {
    r = await watching(host, `${copies.at(-1)!.target}.partial`, copies.map((c) => c.disk.diskName).join(', '), host.run(cmd), j.progress);
    const cps = copies.map((c) => `cp --sparse=always --reflink=auto -- ${c.source.image} ${c.target}.partial`).join('; ');
    j.ran(
      host.name,
      `root$ ${pids.length ? `kill -STOP ${pids.join(' ')}; ` : ''}${loops.length ? `(wait for ${loops.join(' ')} in-flight I/O 0; blockdev --flushbufs); ` : ''}${cps}${pids.length ? `; kill -CONT ${pids.join(' ')}` : ''}`,
    );
  } finally {
    // The script resumes them on every exit it sees (and its watchdog after the bound); one it cannot see is handled here.
    if (pids.length && (!r || r.timedOut)) await host.run(root(['kill', '-CONT', ...pids.map(String)]));
  }
  const images = copies.map((c) => c.source.image).join(', ');
  if (r.exitCode === 90 || r.exitCode === 91)
    throw drillFailure(
      'SnapshotFailed',
      `on ${host.name}: stopping pfsd or draining ${loops.join(', ')} failed (${r.stderr.trim()}); pfsd was resumed`,
      true,
    );
  if (r.exitCode === 137 || r.exitCode === 124 || r.timedOut)
    throw drillFailure(
      'SnapshotFailed',
      `on ${host.name}: copying ${images} took longer than drill.maxFreezeSeconds = ${secs} s; it was stopped and pfsd ${pids.join(', ') || '(none running)'} resumed (${r.stderr.trim().slice(-300)}) (use a filesystem with reflinks, or a snapshot command)`,
    );
  if (r.exitCode !== 0)
    throw drillFailure(
      'SnapshotFailed',
      `on ${host.name}: copying ${images} failed (exit ${r.exitCode}: ${r.stderr.trim().slice(-500)}); pfsd was resumed`,
      true,
    );
  const frozenMs = Number(/frozen_ms=(\d+)/.exec(r.stdout)?.[1] ?? NaN);
  if (!pids.length)
    j.verified.push(`${host.name}: no pfsdaemon serves ${copies.map((c) => c.source.diskName).join(', ')}: the disks were idle`);
  else j.verified.push(`${host.name}: pfsdaemon ${pids.join(', ')} stopped for ${frozenMs} ms and resumed`);
  const out: CopyResult[] = [];
  for (const c of copies)
    out.push(
      await finish(
        host,
        c,
        { disk: c.disk.diskName, kind: 'image', method: 'pfsd-freeze+cp', frozen: loops, stopped: pids, frozenMs, ms: 0 },
        started,
        j,
      ),
    );
  return out;
}

/**
 * Copies the disks one host holds, standbys' first. Idempotent: a copy in place (its final
 * name) is kept, a partial one is started over.
 */
export async function copyDisks(host: Host, spec: ClusterSpec, sb: Sandbox, copies: DiskCopy[], j: Journal): Promise<CopyResult[]> {
  const out: CopyResult[] = [];
  const todo: DiskCopy[] = [];
  const method = copyMethodOf(spec);
  for (const c of copies) {
    if (await ok(host, ['test', '-e', c.target])) {
      j.skipped.push(`${host.name}: ${c.target} already copied`);
      const isDev = await ok(host, ['test', '-b', c.target]);
      out.push({ disk: c.disk.diskName, kind: isDev ? 'device' : 'image', method: 'cp', frozen: [], ms: 0 });
      continue;
    }
    if (!method)
      throw drillFailure(
        'SnapshotUnsupported',
        'the polardb profile keeps its data in PFS, which no host can freeze: a drill of it needs drill.copyMethod pfsd-freeze or drill.snapshotCommand',
      );
    if (method !== 'snapshot-command' && !c.source.image)
      throw drillFailure(
        'SnapshotUnsupported',
        `disk ${c.source.diskName} is the block device ${c.source.device}: only a snapshot command can copy it`,
      );
    await clearPartial(host, sb, c, j);
    todo.push(c);
  }
  if (method === 'snapshot-command') for (const c of todo) out.push(await snapshotByCommand(host, spec, sb, c, j));
  else if (todo.length && method === 'pfsd-freeze') out.push(...(await pfsdFreezeAndCopy(host, spec, sb, todo, j)));
  else if (todo.length) out.push(...(await freezeAndCopy(host, spec, sb, todo, j)));
  return out;
}

/** What a sandbox standby must use instead of production's (postgresql.auto.conf is read last: these win). */
export function standbyOverrides(sb: Sandbox, node: NodeSpec): string {
  const spec = sb.spec;
  const primary = primaryOf(spec);
  const disk = node.storage!;
  const dataDir = disk.dataDir ?? `/${disk.diskName}/shared_data`;
  return [
    `# polar-runbook drill ${sb.sandboxCluster}: this copy of the standby's local dir runs in the sandbox`,
    `port = ${node.port}`,
    `listen_addresses = ${quoteConf(node.address === '127.0.0.1' ? '127.0.0.1' : '0.0.0.0')}`,
    `polar_disk_name = ${quoteConf(disk.diskName)}`,
    `polar_datadir = ${quoteConf(`${dataDir.replace(/\/+$/, '')}/`)}`,
    `primary_conninfo = ${quoteConf(primaryConninfo(spec, primary, node))}`,
    `primary_slot_name = ${quoteConf(node.slot!)}`,
    '',
  ].join('\n');
}

/**
 * A polardb standby keeps its compute-local dir (postgresql.conf, standby.signal, ...): the
 * drill copies it from the standby's host into the sandbox (logs and the lock file left out) and
 * points the copy at the sandbox (its port, its disk copy, the sandbox primary). Done when the
 * copy's postgresql.conf is in place (it is moved there whole).
 */
export async function copyStandbyDirs(
  spec: ClusterSpec,
  sb: Sandbox,
  hostFor: (n: NodeSpec) => Host,
  j: Journal,
): Promise<{ node: string; from: string; to: string }[]> {
  if (!profileOf(spec).standbyKeepsLocalDir) return [];
  const out = [];
  for (const prod of spec.nodes.filter((n) => n.role === 'standby')) {
    const node = nodeNamed(sb.spec, prod.name);
    const host = hostFor(prod);
    const to = node.localDir;
    out.push({ node: prod.name, from: prod.localDir, to });
    if (await ok(host, ['test', '-f', `${to}/postgresql.conf`])) {
      j.skipped.push(`${host.name}: ${to} already copied from ${prod.localDir}`);
      continue;
    }
    if (!(await ok(host, ['test', '-f', `${prod.localDir}/postgresql.conf`])))
      throw drillFailure('SnapshotFailed', `on ${host.name}: the standby ${prod.name} has no ${prod.localDir}/postgresql.conf to copy`);
    const partial = `${to}.partial`;
    await must(host, root(['rm', '-rf', '--', partial]), j);
    await must(host, root(['mkdir', '-m', '0700', '--', partial]), j);
    await must(
      host,
      root(
        [
          'find',
          prod.localDir,
          '-mindepth',
          '1',
          '-maxdepth',
          '1',
          ...['!', '-name', 'pg_log', '!', '-name', 'log', '!', '-name', 'postmaster.pid', '!', '-name', 'postmaster.opts'],
          ...['-exec', 'cp', '-a', '--reflink=auto', '-t', partial, '--', '{}', '+'],
        ],
        30 * 60_000,
      ),
      j,
    );
    await must(host, root(['mkdir', '-p', '--', `${partial}/pg_log`]), j);
    const auto = await host.run(root(['cat', '--', `${partial}/postgresql.auto.conf`]));
    const text = (auto.exitCode === 0 ? auto.stdout.replace(/\n?$/, '\n') : '') + standbyOverrides(sb, node);
    await must(host, { argv: ['tee', '--', `${partial}/postgresql.auto.conf`], as: 'root', input: text, timeoutMs: T }, j);
    await must(host, root(['chown', '-R', `${node.osUser}:${node.osUser}`, '--', partial]), j);
    await must(host, root(['mv', '-T', '--', partial, to]), j);
    j.changed = true;
    j.verified.push(`${host.name}: the standby's local dir ${prod.localDir} copied to ${to}, pointed at the sandbox`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Teardown

/** Kills, in rounds, every postgres whose cwd is below the sandbox dir (a postmaster and its children run in their data dir). */
const KILL_BELOW = `d=$1
pids=
for l in /proc/[0-9]*/cwd; do
  c=$(readlink "$l" 2>/dev/null) || continue
  case "$c" in "$d"/*) ;; *) continue ;; esac
  p=\${l#/proc/}; p=\${p%/cwd}
  e=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
  case "\${e##*/}" in postgres|"postgres (deleted)") pids="$pids $p" ;; esac
done
[ -n "$pids" ] && kill -9 $pids 2>/dev/null
echo $pids`;

/** Where pfsd keeps its runtime files (POLARDB-NOTES.md). */
export const PFSD_PATHS = { run: '/var/run/pfsd', shm: '/dev/shm/pfsd', log: '/var/log' };

/**
 * What `stop_pfsd.sh <disk>` then `clean_pfsd.sh <disk>` do, for a sandbox disk only (its name
 * ends in _d<seed>, so nothing of production matches): the pfsdaemon serving it, found by its
 * command line, gets SIGINT then SIGKILL after 1 s; then its pid file, run dir, shared memory
 * files and log dir go, and the log the runbook's start wrote. Never the argument-less stop,
 * which kills every pfsdaemon on the host.
 */
export async function cleanSandboxPfsd(
  host: Host,
  disk: string,
  daemon: (disk: { diskName: string }) => Probe,
  j: Journal,
): Promise<string[]> {
  if (!/_d[0-9a-f]{6}$/.test(disk) || !/^[A-Za-z0-9_-]+$/.test(disk))
    throw drillFailure('SandboxConflict', `${disk} is not a sandbox disk name: its pfsd is left alone`);
  const pidsOf = async () =>
    (await host.run({ ...daemon({ diskName: disk }), timeoutMs: T })).stdout.split('\n').filter((x) => /^\d+$/.test(x));
  let pids = await pidsOf();
  if (pids.length) {
    await host.run(root(['kill', '-INT', ...pids]));
    j.ran(host.name, `root$ kill -INT ${pids.join(' ')} (pfsdaemon -p ${disk})`);
    for (let i = 0; i < 10 && (pids = await pidsOf()).length; i++) await j.progress.sleep(100);
    if (pids.length) await must(host, root(['kill', '-9', ...pids]), j);
    for (let i = 0; (pids = await pidsOf()).length; i++) {
      if (i > 50)
        throw drillFailure('SandboxTeardownFailed', `on ${host.name}: pfsdaemon ${pids.join(', ')} of ${disk} does not die`, true);
      await j.progress.sleep(100);
    }
  }
  const paths = [
    `${PFSD_PATHS.run}/${disk}`,
    `${PFSD_PATHS.run}/pfsd_${disk}.pid`,
    `${PFSD_PATHS.log}/pfsd-${disk}`,
    `${PFSD_PATHS.log}/polar-runbook-pfsd-${disk}.log`,
  ];
  const shm = await host.run(root(['find', PFSD_PATHS.shm, '-maxdepth', '1', '-name', `shm_pfsd-${disk}_*`]));
  if (shm.exitCode === 0) paths.push(...shm.stdout.split('\n').filter((l) => l.startsWith(`${PFSD_PATHS.shm}/shm_pfsd-${disk}_`)));
  const removed: string[] = [];
  for (const path of paths)
    if ((await ok(host, ['test', '-e', path])) || (await ok(host, ['test', '-L', path]))) {
      await must(host, root(['rm', '-rf', '--', path]), j);
      removed.push(path);
    }
  return removed;
}

export interface TeardownResult {
  host: string;
  killed: number;
  unmounted: string[];
  detached: string[];
  links: string[];
  /** pfsd runtime files of the sandbox's disks that were removed. */
  pfsdRemoved: string[];
  removed: boolean;
}

export async function teardownOnHost(host: Host, sb: Sandbox, j: Journal): Promise<TeardownResult> {
  const out: TeardownResult = { host: host.name, killed: 0, unmounted: [], detached: [], links: [], pfsdRemoved: [], removed: false };
  const dir = sb.dir;
  if (!within(sb.root, dir) || dir === sb.root || !PLAIN_PATH.test(dir))
    throw drillFailure('SandboxConflict', `${dir} is not a sandbox below ${sb.root}: left alone`);
  const exists = await ok(host, ['test', '-e', dir]);
  if (exists && !(await ok(host, ['test', '-f', sb.marker])))
    throw drillFailure('SandboxConflict', `on ${host.name}: ${dir} has no ${DRILL_MARKER} marker: not a sandbox, left alone`);

  // 1. The sandbox's database instances (and, for polardb, its storage daemons): killed, a crash.
  for (let round = 0; ; round++) {
    const r = await must(host, root(['sh', '-c', KILL_BELOW, 'kill-below', dir]));
    const pids = r.stdout.trim().split(/\s+/).filter(Boolean);
    if (pids.length === 0) break;
    if (round === 0) j.ran(host.name, `root$ kill -9 ${pids.join(' ')} (postgres below ${dir})`);
    out.killed += pids.length;
    if (round > 150)
      throw drillFailure('SandboxTeardownFailed', `on ${host.name}: postgres processes below ${dir} do not die: ${pids.join(', ')}`, true);
    await j.progress.sleep(200);
  }
  const daemon = profileOf(sb.spec).diskDaemon;
  if (daemon) for (const c of sb.copies) out.pfsdRemoved.push(...(await cleanSandboxPfsd(host, c.disk.diskName, daemon, j)));

  // 2. Mounts below the sandbox dir, deepest first; a mount still busy a moment after the kill is retried.
  const mounts = (await must(host, root(['findmnt', '-rn', '-o', 'TARGET']))).stdout
    .split('\n')
    .filter((m) => m && within(dir, m))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    for (let tries = 1; ; tries++) {
      const r = await host.run(root(['umount', '--', m]));
      if (r.exitCode === 0) break;
      if (tries >= 25) throw drillFailure('SandboxTeardownFailed', `on ${host.name}: umount ${m} failed: ${r.stderr.trim()}`, true);
      await j.progress.sleep(200);
    }
    j.ran(host.name, `root$ umount -- ${m}`);
    out.unmounted.push(m);
  }

  // 3. Loop devices bound to files below the sandbox dir.
  const loops = (await must(host, root(['losetup', '-l', '-n', '--raw', '-O', 'NAME,BACK-FILE']))).stdout
    .split('\n')
    .map((l) => /^(\/dev\/loop\d+) (.*?)(?: \(deleted\))?$/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => !!m && within(dir, m[2]!));
  for (const m of loops) {
    await must(host, root(['losetup', '-d', m[1]!]), j);
    out.detached.push(m[1]!);
  }

  // 4. The sandbox disks' /dev links (their names are the sandbox's own): only links to a loop device or into the sandbox.
  for (const c of sb.copies) {
    const link = `/dev/${c.disk.diskName}`;
    const r = await host.run(root(['readlink', '--', link]));
    if (r.exitCode !== 0) continue;
    const target = r.stdout.trim();
    if (/^\/dev\/loop\d+$/.test(target) || within(dir, target)) {
      await must(host, root(['rm', '-f', '--', link]), j);
      out.links.push(link);
    }
  }

  // 5. The dir itself: everything but the marker, then the marker, then the dir (a teardown cut
  //    short leaves the marker, so the next one may go on).
  const left = (await must(host, root(['findmnt', '-rn', '-o', 'TARGET']))).stdout.split('\n').filter((m) => m && within(dir, m));
  if (left.length) throw drillFailure('SandboxTeardownFailed', `on ${host.name}: still mounted below ${dir}: ${left.join(', ')}`, true);
  if (exists) {
    await must(
      host,
      root(
        [
          'find',
          dir,
          '-mindepth',
          '1',
          '-maxdepth',
          '1',
          '!',
          '-name',
          DRILL_MARKER,
          '-exec',
          'rm',
          '-rf',
          '--one-file-system',
          '--',
          '{}',
          '+',
        ],
        30 * 60_000,
      ),
      j,
    );
    await must(host, root(['rm', '-f', '--', sb.marker]), j);
    await must(host, root(['rmdir', '--', dir]), j);
    out.removed = true;
  }
  j.changed ||= out.killed > 0 || out.unmounted.length + out.detached.length + out.links.length + out.pfsdRemoved.length > 0 || out.removed;
  j.verified.push(`${host.name}: nothing of ${dir} is left (no process, mount, loop device or link)`);
  return out;
}

/** The production node whose host takes a copy. */
export const copyHost = (spec: ClusterSpec, c: DiskCopy, hostFor: (n: NodeSpec) => Host): Host => hostFor(nodeNamed(spec, c.node));
