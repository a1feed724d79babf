// Permanent faults fail fast, with the typed error, in the first attempt, and leave the storage
// untouched: the image files have the same digest before and after (nothing bound, linked or
// mounted: a mount alone rewrites the ext4 superblock), no acting command ran, no local dir was
// made. On a real lab after its disaster, with a real dev server and worker:
//   - the shared disk image is missing (moved away for the test)   -> StorageMissing
//   - the spec gives the standby's image as the shared disk          -> WrongCluster
//   - a local dir holds data the runbook did not create              -> ForeignDataDir, the files untouched
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startOrAttachRecovery } from '../client/start-recovery.js';
import type { ClusterSpec } from '../lib/model/spec.js';
import { createLab, destroyLab, disaster, labPaths, type Lab } from '../lab/lab.js';
import { logOffset, readCommandLog, lineOf } from './helpers/command-log.js';
import { activityCalls, fetchAll } from './helpers/history.js';
import { noRecoveryRunning } from './helpers/recovery.js';
import { imageDigest, linkTargetOf, loopsOf, mountsAt } from './helpers/system.js';
import { startTemporal } from './helpers/temporal.js';
import { failureType, runWorker, type RunningWorker } from './helpers/worker.js';

const tmp = mkdtempSync(join(tmpdir(), 'permanent-faults-'));
const commandLog = join(tmp, 'commands.jsonl');
let env: TestWorkflowEnvironment;
let worker: RunningWorker;
let lab: Lab | undefined;
const undo = new Set<() => void>();

before(async () => {
  env = await startTemporal();
  worker = await runWorker(env, { commandLog });
  lab = await createLab({ replicas: 1 });
  await disaster(lab); // what a recovery starts from: only the images survive
});

after(async () => {
  for (const u of undo) u();
  await worker?.stop();
  if (lab) await destroyLab(lab);
  await env?.teardown();
  rmSync(tmp, { recursive: true, force: true });
});

/** Digests of both images, and that nothing of the lab's storage is bound, linked or mounted. */
async function storageState(): Promise<Record<string, unknown>> {
  const p = labPaths(lab!.id);
  const out: Record<string, unknown> = {};
  for (const d of ['shared', 'standby'] as const) {
    out[d] = {
      digest: existsSync(p.image[d]) ? await imageDigest(p.image[d]) : 'missing',
      loops: await loopsOf(p.image[d]),
      link: linkTargetOf(p.link[d]) ?? null,
      mounted: mountsAt(p.mountPoint[d]),
    };
  }
  return out;
}

/** Runs the recovery with `spec`; expects it to fail with `type` in the first attempt of one step, fast. */
async function failsWith(spec: ClusterSpec, type: string, message: RegExp) {
  await noRecoveryRunning(env.client, spec.cluster);
  const from = logOffset(commandLog);
  const started = Date.now();
  const { handle } = await startOrAttachRecovery(env.client, spec.cluster, { spec, trigger: 'test' });
  const err = await handle.result().then(
    () => assert.fail('the recovery should have failed'),
    (e: unknown) => e as { cause?: { cause?: { message?: string } } },
  );
  const ms = Date.now() - started;
  assert.equal(failureType(err), type, String(err?.cause?.cause?.message ?? err));
  assert.match(String(err.cause?.cause?.message), message);
  assert.ok(ms < 15_000, `failed fast (${ms} ms)`);
  const calls = activityCalls(await fetchAll(env.client, handle.workflowId, (await handle.describe()).runId)).filter(
    (c) => c.type !== 'notifyOperators',
  );
  const failed = calls.filter((c) => c.outcome === 'failed');
  assert.equal(failed.length, 1, 'one step failed');
  assert.equal(failed[0]!.attempt, 1, `${failed[0]!.key} failed in its first attempt: no retry`);
  assert.deepEqual(readCommandLog(commandLog, from).map(lineOf), [], 'no command acted on any host');
  return { failedStep: failed[0]!.key, ms, steps: calls.map((c) => `${c.key}:${c.outcome}`) };
}

const noLocalDirs = () => {
  for (const n of lab!.spec.nodes.filter((x) => x.role !== 'standby')) assert.ok(!existsSync(n.localDir), `${n.localDir} was not made`);
};

test('the shared disk image is missing: StorageMissing before anything is touched', { timeout: 120_000 }, async (t) => {
  const image = labPaths(lab!.id).image.shared;
  const away = `${image}.away`;
  const before = await storageState();
  renameSync(image, away);
  const back = () => existsSync(away) && renameSync(away, image);
  undo.add(back);
  try {
    const r = await failsWith(lab!.spec, 'StorageMissing', /disk image .*shared\.img is not there/);
    t.diagnostic(`failed in ${r.ms} ms at ${r.failedStep} (${r.steps.join(', ')})`);
  } finally {
    back();
    undo.delete(back);
  }
  assert.deepEqual(await storageState(), before, 'both images untouched, nothing bound, linked or mounted');
  noLocalDirs();
});

test("the standby's image given as the shared disk: WrongCluster before anything is touched", { timeout: 120_000 }, async (t) => {
  const p = labPaths(lab!.id);
  const before = await storageState();
  const wrong: ClusterSpec = { ...lab!.spec, storage: { ...lab!.spec.storage, image: p.image.standby } };
  const r = await failsWith(wrong, 'WrongCluster', /standby\.img\) is the same disk as/);
  t.diagnostic(`failed in ${r.ms} ms at ${r.failedStep} (${r.steps.join(', ')})`);
  assert.deepEqual(await storageState(), before, 'both images untouched, nothing bound, linked or mounted');
  noLocalDirs();
});

/** Names, sizes, modes, times and contents of every file below `dir`. */
function treeDigest(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name);
      const st = statSync(path);
      h.update(`${path} ${st.mode} ${st.size} ${st.mtimeMs} ${st.uid}\n`);
      if (st.isDirectory()) walk(path);
      else h.update(readFileSync(path));
    }
  };
  walk(dir);
  return h.digest('hex');
}

for (const nodeName of ['pb1', 'pb2']) {
  test(`foreign data in ${nodeName}'s local dir: ForeignDataDir, the files and the storage untouched`, { timeout: 120_000 }, async (t) => {
    const node = lab!.spec.nodes.find((n) => n.name === nodeName)!;
    const before = await storageState();
    // Someone else's data where the node's local dir goes (no .polar-runbook mark).
    mkdirSync(`${node.localDir}/base`, { recursive: true });
    writeFileSync(`${node.localDir}/PG_VERSION`, '14\n');
    writeFileSync(`${node.localDir}/base/precious.dat`, 'not ours to touch\n');
    const rm = () => rmSync(node.localDir, { recursive: true, force: true });
    undo.add(rm);
    try {
      const files = treeDigest(node.localDir);
      const r = await failsWith(
        lab!.spec,
        'ForeignDataDir',
        new RegExp(`${node.localDir} is not empty and was not created by polar-runbook`),
      );
      t.diagnostic(`failed in ${r.ms} ms at ${r.failedStep} (${r.steps.join(', ')})`);
      assert.equal(treeDigest(node.localDir), files, 'the foreign files are untouched');
      assert.deepEqual(await storageState(), before, 'both images untouched, nothing bound, linked or mounted');
    } finally {
      rm();
      undo.delete(rm);
    }
  });
}
