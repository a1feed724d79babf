// buildNode and startNode: the compute-local side of a database node, rebuilt from nothing
// (or finished, when a previous attempt stopped halfway), then started and proven to serve.
import { permanentCause, type FailureType } from '../model/failures.js';
import type { ClusterSpec, NodeSpec } from '../model/spec.js';
import { nodeNamed } from '../model/spec.js';
import { withCloneProgress } from '../clone-progress.js';
import { whoAnswers } from '../db.js';
import { failure, isTyped, rawMessage } from '../failures.js';
import type { Host } from '../hosts/types.js';
import { askEarly, runOps, settle, type AskedEarly, type Journal } from '../ops.js';
import { MARKER_FILE } from '../profiles/common.js';
import { profileOf } from '../profiles/index.js';
import type { Op, Profile } from '../profiles/types.js';
import { checkPrimary } from '../primary.js';
import type { StepEnv } from './env.js';

/** A local dir that exists, is not empty and has not our mark holds someone else's data. */
export async function refuseForeignDir(host: Host, node: NodeSpec): Promise<void> {
  const ls = await host.run({ argv: ['ls', '-A', '--', node.localDir], as: 'root', timeoutMs: 30_000 });
  if (ls.exitCode !== 0) return; // not there: ours to create
  const entries = ls.stdout.split('\n').filter(Boolean);
  if (entries.length > 0 && !entries.includes(MARKER_FILE))
    throw failure(
      'ForeignDataDir',
      `on ${host.name}: ${node.localDir} is not empty and was not created by polar-runbook (${entries.slice(0, 5).join(', ')})`,
    );
}

async function alreadyServing(spec: ClusterSpec, node: NodeSpec, j: Journal): Promise<boolean> {
  const p = await whoAnswers(spec, node);
  // Something we cannot name holds the port: starting the node beside it can only fail, or worse.
  if (p.state === 'foreign' || p.state === 'unknown') throw failure('PortTaken', p.detail);
  if (p.state === 'ours') j.verified.push(`${node.name} already serves on ${node.address}:${node.port} (in recovery: ${p.inRecovery})`);
  return p.state === 'ours';
}

/** The FATAL and PANIC lines at the end of the node's server log (the cause pg_ctl only hints at). */
const SERVER_LOG_TAIL =
  'for f in "$@"; do [ -d "$f" ] && f=$(ls -1t "$f"/* 2>/dev/null | head -n 1); ' +
  '[ -n "$f" ] && [ -f "$f" ] && tail -n 200 -- "$f"; done; true';

async function serverLogCause(host: Host, files: string[]): Promise<string[]> {
  const r = await host.run({ argv: ['sh', '-c', SERVER_LOG_TAIL, 'server-log', ...files], as: 'root', timeoutMs: 30_000 });
  return [...new Set(r.stdout.split('\n').filter((l) => /\b(FATAL|PANIC):/.test(l)))].slice(-5).map((l) => l.trim().slice(0, 400));
}

/**
 * Starts the node; when the start fails, the failure carries the server log's own words and their
 * type. `asked`: whether it runs already, asked early (askEarly).
 */
async function start(
  host: Host,
  spec: ClusterSpec,
  node: NodeSpec,
  profile: Profile,
  j: Journal,
  op: Op,
  asked: AskedEarly,
): Promise<void> {
  try {
    await runOps(host, [op], j, asked);
  } catch (err) {
    const lines = await serverLogCause(host, profile.serverLogs(spec, node)).catch(() => []);
    if (!lines.length || !isTyped(err)) throw err;
    const type = (permanentCause(lines.join('\n')) ?? err.type ?? 'CommandFailed') as FailureType;
    throw failure(type, `${node.name} did not start; its server log says: ${lines.join(' | ')}; ${rawMessage(err)}`);
  }
}

/** Waits until the node answers as itself, in the role it should have. */
async function waitServing(spec: ClusterSpec, node: NodeSpec, j: Journal, limitMs = 5 * 60_000): Promise<void> {
  const started = Date.now();
  for (;;) {
    if (Date.now() - started > limitMs)
      throw failure('CommandFailed', `${node.name} was started but did not accept connections within ${limitMs / 1000} s`);
    const p = await whoAnswers(spec, node);
    if (p.state === 'foreign') throw failure('PortTaken', p.detail);
    if (p.state === 'ours') {
      const wantRecovery = node.role !== 'primary';
      if (p.inRecovery !== wantRecovery)
        throw failure('SplitBrainRisk', `${node.name} started but pg_is_in_recovery() = ${p.inRecovery}, expected ${wantRecovery}`);
      j.verified.push(`${node.name} serves on ${node.address}:${node.port} as ${node.role} (pg_is_in_recovery = ${p.inRecovery})`);
      return;
    }
    j.progress.beat({ waiting: 'connections', sinceMs: Date.now() - started });
    await j.progress.sleep(100);
  }
}

/**
 * Waits until what an earlier attempt at the build left running has ended (the profile says what
 * that is: a clone whose worker died, for one), so the retry never works beside it.
 */
async function waitForEarlierBuild(host: Host, spec: ClusterSpec, node: NodeSpec, profile: Profile, j: Journal): Promise<void> {
  const earlier = profile.earlierBuild(spec, node);
  if (!earlier) return;
  const started = Date.now();
  let seen = false;
  for (;;) {
    const r = await host.run(earlier.cmd);
    const pids = r.stdout.split('\n').filter(Boolean);
    if (!pids.length) break;
    seen = true;
    j.progress.beat({ waiting: `${earlier.what} (pid ${pids.join(', ')})`, sinceMs: Date.now() - started });
    await j.progress.sleep(250);
  }
  if (seen)
    j.verified.push(`${node.name}: ${earlier.what} was still running; waited ${((Date.now() - started) / 1000).toFixed(1)} s for it`);
}

export async function buildNode({ hostFor, j, sinceMs }: StepEnv, spec: ClusterSpec, nodeName: string): Promise<void> {
  const node = nodeNamed(spec, nodeName);
  const host = hostFor(node);
  // Both asked at once (reads only); a node that serves already needs no build, whatever its dir holds.
  const foreign = settle(node.role !== 'standby' ? refuseForeignDir(host, node) : Promise.resolve());
  if (await alreadyServing(spec, node, j)) return;
  (await foreign)();
  const profile = profileOf(spec);
  await waitForEarlierBuild(host, spec, node, profile, j);
  try {
    const target = profile.postmasterDir(spec, node);
    await withCloneProgress(spec, node, host, target, j.progress, () => runOps(host, profile.buildNode(spec, node), j));
  } catch (err) {
    // A build that reads from the primary (a clone): a lost primary is the cause to name. (A
    // polardb replica builds from PFS while the primary may not serve yet: nothing to ask it.)
    if (profile.buildNeedsPrimary(spec, node) && !(isTyped(err) && err.nonRetryable))
      await checkPrimary(spec, `buildNode ${node.name}`, sinceMs);
    throw err;
  }
}

export async function startNode({ hostFor, j }: StepEnv, spec: ClusterSpec, nodeName: string): Promise<void> {
  const node = nodeNamed(spec, nodeName);
  const host = hostFor(node);
  const profile = profileOf(spec);
  const op = profile.startNode(spec, node);
  // Whether a postmaster runs in its dir, asked beside whether it answers (both read only).
  const asked = askEarly(host, [op]);
  if (!(await alreadyServing(spec, node, j))) {
    await start(host, spec, node, profile, j, op, asked);
    await waitServing(spec, node, j);
  }
}
