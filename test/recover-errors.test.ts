// Bad input stops a recovery with a clear, typed error and touches nothing: a missing disk image,
// an invalid spec, a node port taken by something else. Real dev server, real worker.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { TASK_QUEUE } from '../lib/model/input.js';
import { abortSignal, progressQuery } from '../workflows/definitions.js';
import type { ClusterSpecInput } from '../lib/model/spec.js';
import { startTemporal } from './helpers/temporal.js';
import { failureType, runWorker, type RunningWorker } from './helpers/worker.js';
import { freePort } from '../scripts/ports.js';

const id = `prt${randomBytes(3).toString('hex')}`;
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

const spec = (port: number, cluster = id, image = `/nonexistent/${id}/shared.img`): ClusterSpecInput => ({
  cluster,
  profile: 'postgres',
  storage: { image, diskName: `${id}-shared`, mountPoint: `/tmp/${id}/mnt`, dataDir: `/tmp/${id}/mnt/pgdata` },
  binaries: { dir: '/usr/lib/postgresql/15', shareDir: '/usr/share/postgresql/15' },
  replication: { network: '127.0.0.1/32' },
  nodes: [{ name: 'pb1', role: 'primary', host: { transport: 'local' }, address: '127.0.0.1', port, localDir: `/tmp/${id}/pb1/primary` }],
});

const recover = (input: { spec?: ClusterSpecInput }, suffix: string) =>
  env.client.workflow.execute('recoverCluster', {
    taskQueue: TASK_QUEUE,
    workflowId: `recover/${input.spec?.cluster ?? `${id}-${suffix}`}`,
    args: [input],
  });

test('a missing disk image fails with StorageMissing and creates nothing', async () => {
  const err = await recover({ spec: spec(await freePort(), `${id}-missing`) }, 'missing').catch((e) => e);
  assert.equal(failureType(err), 'StorageMissing', String(err?.cause?.cause?.message ?? err));
  assert.match(String(err.cause.cause.message), /disk image \/nonexistent\/.*shared\.img is not there/);
  assert.equal(existsSync(`/dev/${id}-shared`), false);
  assert.equal(existsSync(`/tmp/${id}`), false);
  assert.doesNotMatch((await execa('losetup', ['-a'])).stdout, new RegExp(`/nonexistent/${id}/`));
});

test('an invalid spec fails with SpecInvalid naming the field', async () => {
  const bad = { ...spec(5432), nodes: [{ ...spec(5432).nodes[0]!, localDir: '/tmp/x; rm -rf /' }] };
  const err = await recover({ spec: bad }, 'badspec').catch((e) => e);
  assert.equal(failureType(err), 'SpecInvalid');
  assert.match(String(err.cause.message), /nodes\.0\.localDir: must be an absolute path/);
  const none = await recover({}, 'nospec').catch((e) => e);
  assert.equal(failureType(none), 'SpecInvalid');
});

test('a recovery started under another workflow id refuses to act (one recovery per cluster)', async () => {
  const err = await env.client.workflow
    .execute('recoverCluster', { taskQueue: TASK_QUEUE, workflowId: `elsewhere-${id}`, args: [{ spec: spec(5432, `${id}-id`) }] })
    .catch((e) => e);
  assert.equal(failureType(err), 'SpecInvalid');
  assert.match(String(err.cause.message), new RegExp(`workflow id recover/${id}-id`));
});

test('a node port answered by something else fails with PortTaken before anything is touched', async () => {
  const port = await freePort();
  const squatter: Server = createServer((s) => s.end('not postgres\n'));
  await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', r));
  try {
    const err = await recover({ spec: spec(port, `${id}-port`) }, 'port').catch((e) => e);
    assert.equal(failureType(err), 'PortTaken', String(err?.cause?.cause?.message ?? err));
    assert.match(String(err.cause.cause.message), new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.equal(existsSync(`/tmp/${id}`), false);
  } finally {
    squatter.close();
  }
});

test('when fencing cannot be proven (host unreachable) the recovery waits for approval, touching nothing, and can be aborted', async () => {
  const cluster = `${id}-fence`;
  const unreachable = { transport: 'ssh', address: '127.0.0.1', port: await freePort(), connectTimeoutSeconds: 2 } as const;
  const s = spec(await freePort(), cluster);
  const input = { spec: { ...s, nodes: [{ ...s.nodes[0]!, host: unreachable }] } };
  const handle = await env.client.workflow.start('recoverCluster', {
    taskQueue: TASK_QUEUE,
    workflowId: `recover/${cluster}`,
    args: [input],
  });
  let progress = await handle.query(progressQuery);
  for (let i = 0; !progress.waitingFor && i < 100; i++) {
    await new Promise((r) => setTimeout(r, 100));
    progress = await handle.query(progressQuery);
  }
  assert.equal(progress.waitingFor?.gate, 'fence');
  assert.match(progress.waitingFor!.evidence.join('\n'), /pb1: cannot look for a postmaster on the host .*unreachable/);
  assert.deepEqual(
    progress.steps.map((st) => st.id),
    ['checkRunbooks', 'fence'],
    'nothing after the fence ran',
  );
  await handle.signal(abortSignal, { reason: 'test' });
  const err = await handle.result().catch((e) => e);
  assert.equal(failureType(err), 'Aborted');
  assert.match(String(err.cause.message), /aborted \(test\).*completed: checkRunbooks, fence/);
  assert.equal(existsSync(`/dev/${id}-shared`), false);
});
