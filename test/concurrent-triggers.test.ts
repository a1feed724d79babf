// One recovery per cluster: 20 triggers arriving at once (alerts, the CLI, the Web UI) for the
// same cluster create exactly one workflow execution; 19 of them attach to it. Counted through
// visibility (what the Web UI lists), through describe, and through which call started it. The
// recovery waits at its approval gate (it touches nothing there) and is aborted at the end.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startOrAttachRecovery } from '../client/start-recovery.js';
import type { ClusterSpecInput } from '../lib/model/spec.js';
import { abortSignal, progressQuery } from '../workflows/definitions.js';
import { freePort } from '../scripts/ports.js';
import { sleep } from './helpers/recovery.js';
import { startTemporal } from './helpers/temporal.js';
import { failureType, runWorker, type RunningWorker } from './helpers/worker.js';

const id = `conc${randomBytes(3).toString('hex')}`;
let env: TestWorkflowEnvironment;
let worker: RunningWorker;

before(async () => {
  env = await startTemporal();
  worker = await runWorker(env);
});
after(async () => {
  await worker?.stop();
  await env?.teardown();
});

const spec = (port: number): ClusterSpecInput => ({
  cluster: id,
  profile: 'postgres',
  storage: {
    image: `/nonexistent/${id}/shared.img`,
    diskName: `${id}-shared`,
    mountPoint: `/tmp/${id}/mnt`,
    dataDir: `/tmp/${id}/mnt/pgdata`,
  },
  binaries: { dir: '/usr/lib/postgresql/15', shareDir: '/usr/share/postgresql/15' },
  replication: { network: '127.0.0.1/32' },
  nodes: [{ name: 'pb1', role: 'primary', host: { transport: 'local' }, address: '127.0.0.1', port, localDir: `/tmp/${id}/pb1/primary` }],
});

test('20 concurrent triggers for one cluster make exactly one workflow execution', { timeout: 120_000 }, async (t) => {
  const input = { spec: spec(await freePort()), trigger: 'webhook' as const, requireApproval: true };
  const results = await Promise.all(Array.from({ length: 20 }, () => startOrAttachRecovery(env.client, id, input)));

  assert.equal(results.filter((r) => r.started).length, 1, 'exactly one call started the recovery, 19 attached');
  assert.deepEqual([...new Set(results.map((r) => r.workflowId))], [`recover/${id}`]);
  const runIds = new Set(await Promise.all(results.map(async (r) => (await r.handle.describe()).runId)));
  assert.equal(runIds.size, 1, 'every handle points at the same run');

  // Visibility lags behind the starts: poll until it shows the execution, then a moment longer.
  const query = `WorkflowId = 'recover/${id}'`;
  const count = async () => {
    const runs: string[] = [];
    for await (const w of env.client.workflow.list({ query })) runs.push(w.runId);
    return runs;
  };
  let runs: string[] = [];
  for (let i = 0; i < 100 && runs.length === 0; i++) {
    runs = await count();
    if (runs.length === 0) await sleep(100);
  }
  await sleep(1000);
  runs = await count();
  t.diagnostic(`visibility lists ${runs.length} execution(s) for recover/${id}: ${runs.join(', ')}`);
  assert.deepEqual(runs, [...runIds], 'visibility lists exactly that one execution');

  // It is a real recovery, waiting at its gate with nothing done; abort it.
  const handle = results[0]!.handle;
  for (let i = 0; i < 100 && !(await handle.query(progressQuery)).waitingFor; i++) await sleep(100);
  const progress = await handle.query(progressQuery);
  assert.equal(progress.waitingFor?.gate, 'start');
  assert.deepEqual(progress.steps, []);
  await handle.signal(abortSignal, { reason: 'test over' });
  assert.equal(failureType(await handle.result().catch((e: unknown) => e)), 'Aborted');
});
