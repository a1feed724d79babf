// The failover drill end to end, on a real lab and a real Temporal dev server: `drill --failover`
// copies both disks (the shared one and the standby's own) into a sandbox, starts the sandbox
// standby on the copy of its disk, runs the real failoverToStandby on the sandbox (fence, position,
// promote, the read-only node rebuilt on the standby's copy, verify), takes the sandbox away and
// records the result. Production keeps serving, its standby is never promoted, nothing of it changes.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { whoAnswers } from '../lib/db.js';
import { readDrillHistory } from '../client/drill-history.js';
import { drillOutcome, startDrill } from '../client/start-drill.js';
import { renderDrillResult } from '../lib/model/drill.js';
import { within } from '../lib/model/paths.js';
import { createLab, destroyLab, type Lab } from '../lab/lab.js';
import { exists, mountPoints, postgresIn } from '../lab/system.js';
import { loopsBelow, productionLoad, productionState, removeSandboxLeftovers, sandboxLinks } from './helpers/drill.js';
import { startTemporal } from './helpers/temporal.js';
import { runWorker, type RunningWorker } from './helpers/worker.js';

let env: TestWorkflowEnvironment;
let worker: RunningWorker;
let lab: Lab | undefined;
const tmp = mkdtempSync(join(tmpdir(), 'polar-drill-failover-'));
const history = join(tmp, 'drill-history.jsonl');

before(async () => {
  process.env.POLAR_FAILOVER_DIR = join(tmp, 'failovers');
  env = await startTemporal();
  worker = await runWorker(env, { drillHistory: history });
  lab = await createLab({ replicas: 1 });
});

after(async () => {
  await worker?.stop();
  if (lab) {
    await removeSandboxLeftovers(lab.id);
    await destroyLab(lab);
  }
  await env?.teardown();
  rmSync(tmp, { recursive: true, force: true });
});

test('drill --failover: the standby of a copy is promoted in a sandbox; production is left as it was', { timeout: 600_000 }, async (t) => {
  const { spec } = lab!;
  const before = await productionState(lab!);
  const load = productionLoad(spec, 200_000);
  const handle = await startDrill(env.client, lab!.id, { spec, trigger: 'test', failover: true });
  const { result, error } = await drillOutcome(handle);
  const stats = await load.stop();
  assert.ok(result, `the drill has a result (${error})`);
  for (const line of renderDrillResult(result).split('\n')) t.diagnostic(line);

  assert.equal(result.outcome, 'failed-over', error);
  assert.deepEqual(
    result.steps.map((s) => [s.name, s.state]),
    [
      ['checkIdle', 'done'],
      ['reserveSandbox', 'done'],
      ['snapshotStorage', 'done'],
      ['checkIdle', 'done'],
      ['startSandboxStandby', 'done'],
      ['failoverSandbox', 'done'],
      ['teardownSandbox', 'done'],
      ['recordDrill', 'done'],
    ],
  );
  const f = result.failover!;
  assert.equal(f.workflowId, `failover/${result.sandbox!.cluster}`);
  assert.equal(f.outcome, 'failed-over');
  assert.equal(f.promoted, 'pb3');
  assert.match(f.rpo, /^RPO: /);
  assert.equal(result.rtoMs, f.rtoMs);
  const ids = f.steps.map((s) => s.id);
  for (const id of [
    'checkRunbooks',
    'fence',
    'recordPosition:pb3',
    'promote:pb3',
    'validateSlots:pb3',
    'buildNode:pb2',
    'waitStreaming:pb2',
    'verifyFailover',
  ])
    assert.ok(ids.includes(id), `the sandbox failover ran ${id} (${ids.join(', ')})`);
  assert.deepEqual(
    f.steps.filter((s) => s.state !== 'done'),
    [],
  );
  // Only the sandbox's after-failover spec was written, named for the sandbox cluster.
  assert.deepEqual(
    readdirSync(join(tmp, 'failovers')).map((n) => n.split('.after-failover.')[0]),
    [result.sandbox!.cluster],
  );

  const line = readDrillHistory(history, lab!.id).find((l) => l.runId === result.runId);
  assert.equal(line?.outcome, 'failed-over', 'recorded in the drill history');

  // Production: it kept serving, its standby was never promoted, nothing of it changed.
  t.diagnostic(`production during the drill: ${stats.writes.length} writes, errors: ${stats.errors.length}`);
  assert.deepEqual(stats.errors, []);
  const standby = await whoAnswers(
    spec,
    spec.nodes.find((n) => n.name === 'pb3')!,
  );
  assert.equal(standby.state === 'ours' && standby.inRecovery, true, 'the production standby is still a standby');
  const primary = await whoAnswers(
    spec,
    spec.nodes.find((n) => n.name === 'pb1')!,
  );
  assert.equal(primary.state === 'ours' && !primary.inRecovery, true, 'the production primary is still read-write');
  assert.deepEqual(await productionState(lab!), before);

  // Nothing of the sandbox is left.
  const dir = result.sandbox!.dir;
  assert.equal(await exists(dir), false, `${dir} removed`);
  assert.deepEqual(await loopsBelow(dir), []);
  assert.deepEqual(
    (await mountPoints()).filter((m) => within(dir, m)),
    [],
  );
  assert.deepEqual(await postgresIn((cwd) => within(dir, cwd)), []);
  assert.deepEqual(await sandboxLinks(lab!.id), []);
});
