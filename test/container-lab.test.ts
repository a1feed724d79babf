// The seed's own topology, end to end: a container lab (one container per node in a Docker engine
// this test starts and owns, the host image built from Debian's archive and reused), the seed's
// disaster (`docker rm -f` of pb1 and pb2, a restart of pb3, every loop device gone), and
// recoverCluster through the docker transport: the runbook re-creates the containers itself
// (provisionHost), the replica and the standby stream, the data equals its fingerprint. Then the
// same with the worker SIGKILLed mid-recovery, and a container of the same name with another
// image: HostConflict, left as it is. Nothing is left behind: containers, network, engine, loops.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { withDb } from '../lib/db.js';
import { startOrAttachRecovery } from '../client/start-recovery.js';
import { renderReport, type RecoveryReport } from '../lib/model/report.js';
import { nodesOf, primaryOf, type NodeSpec } from '../lib/model/spec.js';
import { docker, removeEngine, startEngine, type Engine } from '../lab/containers/engine.js';
import { readContainersFile } from '../lab/containers/topology.js';
import { createLab, destroyLab, disaster, labPaths, type Lab } from '../lab/lab.js';
import { startDevServer, type DevServer } from '../scripts/dev-server.js';
import { readCommandLog, logOffset, waitForCommand } from './helpers/command-log.js';
import { noRecoveryRunning, recordedFingerprint, sameData, within } from './helpers/recovery.js';
import { loopsOf } from './helpers/system.js';
import { spawnWorker, stopAllWorkers, type WorkerProcess } from './helpers/worker-process.js';

// Short: the engine's sockets live below it.
const tmp = mkdtempSync('/tmp/prb-ct-');
const commandLog = join(tmp, 'commands.jsonl');
const workerOutput = join(tmp, 'workers.log');

let engine: Engine | undefined;
let dev: DevServer | undefined;
let client: Client;
let lab: Lab | undefined;
let worker: WorkerProcess | undefined;
let network: string | undefined;
let images: string[] = [];

const containerOf = (n: NodeSpec): string => (n.host.transport === 'docker' ? n.host.container : assert.fail(`${n.name} is not docker`));
const state = (name: string): Promise<string> =>
  docker(engine!, ['container', 'inspect', '--format', '{{.State.Status}} {{.Id}}', name]).catch(() => 'absent');

before(async () => {
  // The test's own engine: its own data root, socket and network; stopped by its PID at the end.
  process.env.POLAR_DOCKER_ROOT = join(tmp, 'docker');
  engine = await startEngine(process.env.POLAR_DOCKER_ROOT);
  process.env.DOCKER_HOST = engine.dockerHost; // the worker processes inherit it
  dev = await startDevServer();
  client = new Client({ connection: await Connection.connect({ address: dev.address }) });
  lab = await createLab({ hosts: 'containers', replicas: 1 });
  network = (await readContainersFile(labPaths(lab.id)))!.network;
  images = Object.values(labPaths(lab.id).image);
  worker = spawnWorker({ address: dev.address, commandLog, outputFile: workerOutput });
  await worker.ready;
});

after(async () => {
  // Everything is cleaned up first, whatever fails; what was left behind is asserted last.
  const left: string[] = [];
  await stopAllWorkers();
  try {
    if (lab) await destroyLab(lab);
    if (engine && lab) {
      for (const n of lab.spec.nodes) if ((await state(containerOf(n))) !== 'absent') left.push(`container of ${n.name}`);
      const nets = await docker(engine, ['network', 'ls', '--format', '{{.Name}}']);
      if (nets.split('\n').includes(network!)) left.push(`network ${network}`);
    }
  } finally {
    if (engine) await removeEngine(engine);
    await dev?.stop();
    for (const image of images) for (const loop of await loopsOf(image)) left.push(`${loop} on ${image}`);
    rmSync(tmp, { recursive: true, force: true });
  }
  assert.deepEqual(left, [], 'nothing of the container lab is left behind');
});

async function recover(t: TestContext): Promise<RecoveryReport> {
  const { handle } = await startOrAttachRecovery(client, lab!.spec.cluster, { spec: lab!.spec, trigger: 'test' });
  const report = (await within(handle.result(), 600_000, 'the recovery')) as RecoveryReport;
  for (const line of renderReport(report).split('\n')) t.diagnostic(line);
  return report;
}

/** After a recovery: containers running, slots active, replica and standby streaming, same data everywhere. */
async function assertRecovered(): Promise<void> {
  const spec = lab!.spec;
  for (const n of spec.nodes) assert.match(await state(containerOf(n)), /^running /, `${n.name}'s container runs`);
  await withDb(spec, primaryOf(spec), async (db) => {
    const streaming = (
      await db.query(`select application_name, state, host(client_addr) as client_addr from pg_stat_replication order by 1`)
    ).rows;
    assert.deepEqual(
      streaming.map((r: { application_name: string; state: string }) => [r.application_name, r.state]),
      [
        ['replica1', 'streaming'],
        ['standby1', 'streaming'],
      ],
    );
    // They stream from their containers' own addresses.
    const addrs = streaming.map((r: { client_addr: string }) => r.client_addr).sort();
    assert.deepEqual(addrs, [...nodesOf(spec, 'replica'), ...nodesOf(spec, 'standby')].map((n) => n.address).sort());
  });
  await sameData(spec, recordedFingerprint(spec));
  // One loop device per image: the shared one bound once, seen by pb1 and pb2 alike.
  for (const image of images) assert.equal((await loopsOf(image)).length, 1, `one loop device on ${image}`);
}

test('the seed disaster in containers: docker rm -f pb1 pb2, pb3 restarted; the runbook re-creates them', async (t) => {
  const spec = lab!.spec;
  const before = Object.fromEntries(await Promise.all(spec.nodes.map(async (n) => [n.name, await state(containerOf(n))])));
  await disaster(lab!);
  assert.equal(await state(containerOf(primaryOf(spec))), 'absent');
  assert.equal(await state(containerOf(nodesOf(spec, 'replica')[0]!)), 'absent');
  for (const image of images) assert.deepEqual(await loopsOf(image), [], `the disaster left no loop device on ${image}`);

  const from = logOffset(commandLog);
  const report = await recover(t);
  assert.equal(report.outcome, 'recovered');
  assert.deepEqual(
    report.steps.filter((s) => s.state !== 'done'),
    [],
  );
  // provisionHost: a step of its own, right after the fence; pb1 and pb2 created, pb3 reused.
  const ids = report.steps.map((s) => s.id);
  assert.deepEqual(ids.slice(0, 2), ['checkRunbooks', 'fence'], 'no other runbook, then the fence, first');
  for (const n of ['pb1', 'pb2', 'pb3']) assert.ok(ids.indexOf(`provisionHost:${n}`) > 0, `provisionHost:${n} ran`);
  assert.ok(ids.indexOf('provisionHost:pb1') < ids.indexOf('preflight'), 'hosts are provisioned before the preflight');
  const prov = (n: string) => report.steps.find((s) => s.id === `provisionHost:${n}`)!;
  assert.equal(prov('pb1').details?.did, 'created');
  assert.equal(prov('pb2').details?.did, 'created');
  assert.equal(prov('pb3').details?.did, 'running');
  assert.equal(prov('pb3').changed, false);
  // The fence saw the containers gone: proof, no approval gate.
  const fence = report.steps.find((s) => s.id === 'fence')!;
  assert.ok(
    fence.verified.some((v) => /pb1: its host is gone/.test(v)),
    fence.verified.join('; '),
  );
  const runs = readCommandLog(commandLog, from).filter((e) => e.command.includes('docker run -d'));
  assert.equal(runs.length, 2, runs.map((e) => e.command).join('\n'));
  // New containers: other ids than before the disaster; pb3 is the same container, restarted.
  const after = Object.fromEntries(await Promise.all(spec.nodes.map(async (n) => [n.name, await state(containerOf(n))])));
  assert.notEqual(after.pb1, before.pb1);
  assert.equal(after.pb3, before.pb3);
  await assertRecovered();

  // Again on the healthy cluster: nothing acts, every container reused.
  const again = await recover(t);
  assert.equal(again.outcome, 'already-healthy');
  assert.deepEqual(
    again.steps.filter((s) => s.step !== 'verifyData').flatMap((s) => s.commands),
    [],
  );
});

test('a worker SIGKILLed mid-recovery in the container lab: the recovery resumes, each container made once', async (t) => {
  const spec = lab!.spec;
  await noRecoveryRunning(client, spec.cluster);
  await disaster(lab!);
  const from = logOffset(commandLog);
  const { handle } = await startOrAttachRecovery(client, spec.cluster, { spec, trigger: 'test' });
  // Killed while the primary's storage is being attached in its new container: after provisioning.
  const hit = await waitForCommand(commandLog, from, (e) => e.host === 'pb1' && e.command.includes('losetup'), 300_000, 'losetup on pb1');
  await worker!.kill();
  t.diagnostic(`worker ${hit.pid} SIGKILLed at: ${hit.host}: ${hit.command}`);
  worker = spawnWorker({ address: dev!.address, commandLog, outputFile: workerOutput });
  const report = (await within(handle.result(), 600_000, 'the resumed recovery')) as RecoveryReport;
  for (const line of renderReport(report).split('\n')) t.diagnostic(line);
  assert.equal(report.outcome, 'recovered');
  const entries = readCommandLog(commandLog, from);
  assert.ok(new Set(entries.map((e) => e.pid)).size >= 2, 'commands came from the killed worker and the new one');
  for (const n of ['pb1', 'pb2']) {
    const runs = entries.filter((e) => e.command.includes('docker run -d') && e.command.includes(`${lab!.id}-${n}`));
    assert.equal(runs.length, 1, `the container of ${n} created once: ${runs.map((e) => e.command).join(' | ')}`);
  }
  await assertRecovered();
});

test('a container of the same name with another image: HostConflict, never replaced', async () => {
  const spec = lab!.spec;
  const replica = nodesOf(spec, 'replica')[0]!;
  const name = containerOf(replica);
  const h = replica.host as Extract<NodeSpec['host'], { transport: 'docker' }>;
  // The same root under another tag stands in for "another image".
  const other = `${h.provision!.image.split(':')[0]}:other`;
  await docker(engine!, ['tag', h.provision!.image, other]);
  const was = await state(name);
  await noRecoveryRunning(client, spec.cluster);
  await docker(engine!, ['rm', '-f', name]);
  await docker(engine!, ['create', '--name', name, other]);
  const { handle } = await startOrAttachRecovery(client, spec.cluster, { spec, trigger: 'test' });
  const err = await within(
    handle.result().then(
      () => undefined,
      (e: Error) => e,
    ),
    300_000,
    'the recovery',
  );
  assert.ok(err, 'the recovery fails');
  const failure = (err as { cause?: { type?: string; message?: string } }).cause;
  assert.equal(failure?.type, 'HostConflict', String(failure?.message));
  assert.ok(failure!.message!.includes(`container ${name} of pb2 runs image ${other}`), failure!.message);
  // Left as it was: the same stopped container of the other image.
  assert.match(await state(name), /^created /);
  assert.notEqual(await state(name), was);
  await docker(engine!, ['rm', '-f', name]);
  await docker(engine!, ['rmi', other]);
});
