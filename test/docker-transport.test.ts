// The docker transport against a real engine: a Docker engine this test starts and owns (its own
// data root and socket, stopped by its PID), the lab's host image, one container made by the
// runbook's provisioning. Root and database-user commands, argv byte for byte, input, output
// files, timeouts and cancellation (ended inside the container) behave as with local and ssh;
// provisioning is idempotent; a removed or stopped container is HostGone (the fence's proof).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { DockerHost } from '../lib/hosts/docker.js';
import { CommandCancelled, HostGone, HostUnreachable } from '../lib/hosts/types.js';
import { Journal } from '../lib/ops.js';
import { containerState, dockerRunArgv, provisionContainer } from '../lib/provision.js';
import { specSchemas, type DockerProvision } from '../lib/model/spec.js';
import { docker, removeEngine, startEngine, type Engine } from '../lab/containers/engine.js';
import { ensureHostImage } from '../lab/containers/image.js';

const tmp = mkdtempSync('/tmp/prb-dt-');
const name = `prb-dt-${process.pid}`;
let engine: Engine | undefined;
let provision: DockerProvision;

/** A unique sleep duration, so pgrep (on this machine: it sees the container's processes) finds exactly ours. */
const uniqueSleep = (whole: number) => `${whole}.${process.pid}${Math.floor(Math.random() * 1e6)}`;
const sleepPids = async (duration: string): Promise<number[]> => {
  const r = await execa('pgrep', ['-xf', `sleep ${duration.replace('.', '\\.')}`], { reject: false });
  return r.stdout.split('\n').filter(Boolean).map(Number);
};
const gone = async (duration: string): Promise<number[]> => {
  let left = await sleepPids(duration);
  for (let i = 0; i < 50 && left.length; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = await sleepPids(duration);
  }
  return left;
};
const host = () => new DockerHost('node-d', 'postgres', name);

before(async () => {
  engine = await startEngine(join(tmp, 'docker'));
  process.env.DOCKER_HOST = engine.dockerHost;
  const image = await ensureHostImage(engine);
  provision = specSchemas().DockerProvision.parse({ image, volumes: [`${tmp}:/data`] });
  assert.equal(await provisionContainer('node-d', name, provision, new Journal()), 'created');
});

after(async () => {
  if (engine) {
    await docker(engine, ['rm', '-f', name]).catch(() => {});
    await removeEngine(engine);
  }
  rmSync(tmp, { recursive: true, force: true });
});

test('provisioning is idempotent: a running container is reused, a stopped one started', async () => {
  const j = new Journal();
  assert.equal(await provisionContainer('node-d', name, provision, j), 'running');
  assert.deepEqual(j.commands, [], 'a running container: nothing acts');
  await docker(engine!, ['stop', '-t', '0', name]);
  assert.equal((await containerState(name))?.status, 'exited');
  assert.equal(await provisionContainer('node-d', name, provision, new Journal()), 'started');
  assert.equal((await containerState(name))?.status, 'running');
  assert.deepEqual(dockerRunArgv(name, provision).slice(0, 7), ['docker', 'run', '-d', '--name', name, '--hostname', name]);
});

test('argv arrives byte-for-byte; exit code, stdout and stderr come back; input reaches stdin', async () => {
  const words = ['two words', "it's", '$HOME', '$(id)', '`id`', 'a; echo pwned', '*', '', 'A=b', '-n', 'a\nb', 'ünïcødé 🐘'];
  const r = await host().run({ argv: ['printf', '%s\\0', ...words], as: 'root', timeoutMs: 20_000 });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.deepEqual(r.stdout.split('\0'), [...words, '']);
  const r3 = await host().run({ argv: ['sh', '-c', 'echo out; echo err >&2; exit 3'], as: 'root' });
  assert.deepEqual([r3.exitCode, r3.stdout, r3.stderr, r3.timedOut], [3, 'out', 'err', false]);
  const input = `line 1\n$HOME 'quoted'\nno newline at the end`;
  assert.equal((await host().run({ argv: ['cat'], as: 'db', input })).stdout, input);
});

test("as: 'db' runs as the database user, as: 'root' as root", async () => {
  assert.equal((await host().run({ argv: ['id', '-un'], as: 'db' })).stdout, 'postgres');
  assert.equal((await host().run({ argv: ['id', '-un'], as: 'root' })).stdout, 'root');
});

test('a hanging command times out and is killed inside the container', async () => {
  for (const as of ['root', 'db'] as const) {
    const duration = uniqueSleep(600);
    const started = Date.now();
    const r = await host().run({ argv: ['sh', '-c', `sleep ${duration}; echo not killed`], as, timeoutMs: 1500 });
    const elapsed = Date.now() - started;
    assert.equal(r.timedOut, true, `as ${as}: ${JSON.stringify(r)}`);
    assert.equal(r.exitCode, 124);
    assert.ok(elapsed < 10_000, `as ${as}: took ${elapsed} ms`);
    assert.deepEqual(await gone(duration), [], `as ${as}: the sleep in the container survived`);
  }
});

test('a cancelled command is ended inside the container too', async () => {
  for (const as of ['root', 'db'] as const) {
    const duration = uniqueSleep(600);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 1000);
    const err = await host()
      .run({ argv: ['sh', '-c', `sleep ${duration}; echo not killed`], as, timeoutMs: 60_000, signal: ac.signal })
      .catch((e: unknown) => e);
    assert.ok(err instanceof CommandCancelled, `as ${as}: ${String(err)}`);
    assert.deepEqual(await gone(duration), [], `as ${as}: the sleep in the container survived the cancel`);
  }
});

test('outputFile: a daemon holding stdio open does not keep run() waiting', async () => {
  const duration = uniqueSleep(20);
  const started = Date.now();
  const r = await host().run({
    argv: ['sh', '-c', `(sleep ${duration} &) ; echo started; echo to stderr >&2`],
    as: 'db',
    outputFile: '/tmp/daemon.log',
    timeoutMs: 30_000,
  });
  assert.ok(Date.now() - started < 10_000);
  assert.deepEqual([r.exitCode, r.stdout, r.stderr], [0, '', '']);
  assert.equal((await host().run({ argv: ['cat', '/tmp/daemon.log'], as: 'root' })).stdout, 'started\nto stderr');
  const daemons = await sleepPids(duration);
  assert.equal(daemons.length, 1, 'the daemon runs on, detached');
  await host().run({ argv: ['pkill', '-xf', `sleep ${duration.replace('.', '\\.')}`], as: 'root' });
});

test('a stopped or removed container is HostGone (HostUnreachable): nothing of the node runs there', async () => {
  await docker(engine!, ['stop', '-t', '0', name]);
  const stopped = await host()
    .run({ argv: ['true'], as: 'root' })
    .catch((e: unknown) => e);
  assert.ok(stopped instanceof HostGone && stopped instanceof HostUnreachable, String(stopped));
  await docker(engine!, ['rm', '-f', name]);
  const removed = await host()
    .run({ argv: ['true'], as: 'root' })
    .catch((e: unknown) => e);
  assert.ok(removed instanceof HostGone, String(removed));
  assert.equal(await containerState(name), undefined);
  // Made again, as a recovery does.
  assert.equal(await provisionContainer('node-d', name, provision, new Journal()), 'created');
  assert.equal((await host().run({ argv: ['true'], as: 'root' })).exitCode, 0);
});
