// Small pieces the recovery tests share: the fingerprint the lab recorded before its disaster,
// the same data proven on every node, no stale recovery left running, a bounded wait.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { fingerprint, whoAnswers, withDb, type Fingerprint } from '../../lib/db.js';
import { startOrAttachRecovery } from '../../client/start-recovery.js';
import { primaryOf, type ClusterSpec } from '../../lib/model/spec.js';
import { disaster, labPaths, type Lab } from '../../lab/lab.js';
import { postgresIn } from '../../lab/system.js';
import { loopsOf, mountsAt } from './system.js';

/** The tables' fingerprint the lab wrote before its disaster. */
export const recordedFingerprint = (spec: ClusterSpec): Fingerprint =>
  (JSON.parse(readFileSync(spec.verify.fingerprintFile!, 'utf8')) as { tables: Fingerprint }).tables;

/** fingerprint() on every node equals the one recorded before the disaster (standbys may lag a moment). */
export async function sameData(spec: ClusterSpec, recorded: Fingerprint): Promise<void> {
  const tables = Object.keys(recorded);
  for (const n of spec.nodes) {
    for (let i = 0; ; i++) {
      const now = await withDb(spec, n, (db) => fingerprint(db, tables)).catch((err: Error) => err);
      if (!(now instanceof Error) && JSON.stringify(now) === JSON.stringify(recorded)) break;
      if (i >= 100) assert.deepEqual(now, recorded, `data on ${n.name} equals the fingerprint taken before the disaster`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** A recovery left running by a test that failed halfway would be attached to, not started: end it. */
export async function noRecoveryRunning(client: Client, cluster: string): Promise<void> {
  const handle = client.workflow.getHandle(`recover/${cluster}`);
  try {
    if ((await handle.describe()).status.name === 'RUNNING') await handle.terminate('a previous test case failed');
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
}

/** `p`, or a rejection naming `what` after `ms`. */
export const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: no result within ${ms / 1000} s`)), ms).unref()),
  ]);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Brings a lab to where a recovery starts from, whatever a failed test left behind: a serving
 * cluster gets its disaster; a half-recovered one is recovered first (the worker must be running);
 * a lab already in its post-disaster state is left as it is.
 */
export async function toDisaster(client: Client, lab: Lab): Promise<void> {
  const { spec } = lab;
  await noRecoveryRunning(client, spec.cluster);
  if ((await whoAnswers(spec, primaryOf(spec))).state !== 'ours') {
    const p = labPaths(lab.id);
    const clean =
      (await Promise.all([loopsOf(p.image.shared), loopsOf(p.image.standby)])).every((l) => l.length === 0) &&
      mountsAt(p.mountPoint.shared) + mountsAt(p.mountPoint.standby) === 0 &&
      spec.nodes.filter((n) => n.role !== 'standby').every((n) => !existsSync(n.localDir)) &&
      (await postgresIn((cwd) => cwd.startsWith(`${p.root}/`))).length === 0;
    if (clean) return;
    const { handle } = await startOrAttachRecovery(client, spec.cluster, { spec, trigger: 'test' });
    await within(handle.result(), 180_000, `recovering lab ${lab.id} from what a failed test left`);
  }
  await disaster(lab);
}
