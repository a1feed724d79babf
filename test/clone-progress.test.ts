// The clone's progress beats while a replica's build runs, and the build's end ends it at once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withCloneProgress, type CloneProgress } from '../lib/clone-progress.js';
import type { Cmd, Host } from '../lib/hosts/types.js';
import { nodeNamed, primaryOf, type ClusterSpec } from '../lib/model/spec.js';
import type { Progress } from '../lib/ops.js';
import { readSpecFile } from '../lib/spec-file.js';
import { freePort } from '../scripts/ports.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function labSpec(): Promise<ClusterSpec> {
  const spec = readSpecFile('examples/lab-cluster.yaml');
  // A port nothing listens on: the primary's size query fails at once (the beats go without a total).
  primaryOf(spec).port = await freePort();
  return spec;
}

function fakeHost(): Host & { calls: Cmd[] } {
  const calls: Cmd[] = [];
  return {
    name: 'pb2',
    dbUser: 'postgres',
    calls,
    run: async (cmd) => {
      calls.push(cmd);
      return { exitCode: 0, stdout: '4096\t/target\n', stderr: '', durationMs: 1, timedOut: false };
    },
  };
}

function recorder(): Progress & { beats: CloneProgress[] } {
  const beats: CloneProgress[] = [];
  return { beats, beat: (d) => void beats.push(d as CloneProgress), sleep };
}

test('a clone beats its progress, and ends when the build ends, not at the next beat', async () => {
  const spec = await labSpec();
  const host = fakeHost();
  const progress = recorder();
  const t0 = Date.now();
  let builtAt = 0;
  // The build ends 60 ms after the first beat (200 ms in), while the poller waits for the next (500 ms later).
  const out = await withCloneProgress(spec, nodeNamed(spec, 'pb2'), host, '/target', progress, async () => {
    await sleep(260);
    builtAt = Date.now();
    return 'built';
  });
  const endedAfterBuild = Date.now() - builtAt;
  assert.equal(out, 'built');
  assert.ok(endedAfterBuild < 150, `the step ended ${endedAfterBuild} ms after its build (${Date.now() - t0} ms in all)`);
  assert.equal(progress.beats.length, 1, JSON.stringify(progress.beats));
  assert.deepEqual({ ...progress.beats[0], sinceMs: 0 }, { phase: 'clone', node: 'pb2', bytesDone: 4096, sinceMs: 0 });
  assert.deepEqual(host.calls[0]!.argv, ['du', '-sb', '--exclude=pg_wal', '--', '/target']);
});

test('a build that reads nothing from the primary runs with no progress probe', async () => {
  const spec = await labSpec();
  const host = fakeHost();
  const progress = recorder();
  const out = await withCloneProgress(spec, primaryOf(spec), host, '/target', progress, async () => {
    await sleep(250);
    return 7;
  });
  assert.equal(out, 7);
  assert.deepEqual(host.calls, []);
  assert.deepEqual(progress.beats, []);
});
