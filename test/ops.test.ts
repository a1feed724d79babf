// The ops runner: check, act, verify, with fewer round trips where that changes nothing: a probe
// asked early is not asked again; the files of consecutive ops are read and written together.
// Every command that may act is journaled (and in the worker's command log) before it runs.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { LocalHost } from '../lib/hosts/local.js';
import type { Cmd, CmdResult, Host } from '../lib/hosts/types.js';
import { askEarly, Journal, renderBlock, runOps } from '../lib/ops.js';
import type { Op } from '../lib/profiles/types.js';

const dir = mkdtempSync(join(tmpdir(), 'prb-ops-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A local host that remembers every command it was given. */
function counting(): Host & { argvs: string[][] } {
  const local = new LocalHost('h');
  const argvs: string[][] = [];
  return {
    name: local.name,
    dbUser: local.dbUser,
    argvs,
    run(cmd: Cmd): Promise<CmdResult> {
      argvs.push(cmd.argv);
      return local.run(cmd);
    },
  };
}

// Words a shell would split, expand or quote: they must reach the probe and the command as they are.
const odd = join(dir, `a b'c$(echo x)"d;*`);
const makeDir: Op = {
  kind: 'run',
  title: 'make the dir',
  cmd: { argv: ['mkdir', odd], as: 'root', timeoutMs: 10_000 },
  skipIf: { argv: ['test', '-d', odd], as: 'root' },
};

test('an op: its probe, then its command, journaled before it runs; skipped when the probe holds; the words intact', async () => {
  const host = counting();
  const logged: string[] = [];
  const first = new Journal((_h, line) => logged.push(`${line} (${statSync(odd, { throwIfNoEntry: false }) ? 'after' : 'before'})`));
  await runOps(host, [makeDir], first);
  const line = `root$ mkdir '${odd.replace(/'/g, `'\\''`)}'`;
  assert.deepEqual(host.argvs, [makeDir.skipIf!.argv, (makeDir as { cmd: Cmd }).cmd.argv]);
  assert.deepEqual(first.commands, [`h: ${line}`]);
  assert.deepEqual(logged, [`${line} (before)`], 'in the command log before it ran');
  assert.equal(first.changed, true);
  assert.ok(statSync(odd).isDirectory(), 'the name arrived as it is: nothing in it was expanded by a shell');

  const again = new Journal();
  await runOps(host, [makeDir], again);
  assert.equal(host.argvs.length, 3, 'the second run asks the probe only');
  assert.deepEqual(again.commands, [], 'the second run acts on nothing');
  assert.deepEqual(again.skipped, ['h: make the dir (already done)']);
  assert.equal(again.changed, false);
});

test('a command that fails: the typed failure names the command and its output, after the probe confirms the effect is not there', async () => {
  const host = counting();
  const missing = join(dir, 'no', 'such', 'parent');
  const op: Op = {
    kind: 'run',
    title: 'make a dir whose parent is missing',
    cmd: { argv: ['mkdir', missing], as: 'root', timeoutMs: 10_000 },
    skipIf: { argv: ['test', '-d', missing], as: 'root' },
  };
  const j = new Journal();
  await assert.rejects(runOps(host, [op], j), (err: Error & { type?: string }) => {
    assert.match(err.message, new RegExp(`on h: root\\$ mkdir ${missing} failed \\(exit 1: mkdir: cannot create directory`));
    return true;
  });
  assert.deepEqual(j.commands, [`h: root$ mkdir ${missing}`]);
  assert.deepEqual(host.argvs.at(-1), ['test', '-d', missing]);
});

test('a command that fails because the effect appeared meanwhile (a lost race) counts as done', async () => {
  const host = counting();
  const marker = join(dir, 'raced');
  const op: Op = {
    kind: 'run',
    title: 'the marker, made by someone else first',
    // Makes the effect, then fails: as a command that lost a race to another process does.
    cmd: { argv: ['sh', '-c', 'touch "$0"; exit 1', marker], as: 'root', timeoutMs: 10_000 },
    skipIf: { argv: ['test', '-f', marker], as: 'root' },
  };
  const j = new Journal();
  await runOps(host, [op], j);
  assert.equal(host.argvs.length, 3, 'the probe, the command, the probe again');
  assert.equal(j.changed, false);
});

test('a probe asked early is not asked again', async () => {
  const host = counting();
  const file = join(dir, 'early');
  const op: Op = {
    kind: 'run',
    title: 'a file',
    cmd: { argv: ['touch', file], as: 'root', timeoutMs: 10_000 },
    skipIf: { argv: ['test', '-f', file], as: 'root' },
  };
  const asked = askEarly(host, [op]);
  assert.deepEqual(host.argvs, [['test', '-f', file]], 'asked at once');
  const j = new Journal();
  await runOps(host, [op], j, asked);
  assert.deepEqual(
    host.argvs,
    [
      ['test', '-f', file],
      ['touch', file],
    ],
    'the early answer used; the command alone',
  );
});

test('the files of consecutive ops: read together, written together, journaled in the ops order; unchanged ones not written', async () => {
  const host = counting();
  const a = join(dir, 'a.conf');
  const b = join(dir, 'b.conf');
  writeFileSync(a, 'own a\n');
  writeFileSync(b, 'own b\n');
  const ops: Op[] = [
    { kind: 'block', title: 'a', path: a, block: 'x=1\n', owner: 'root' },
    { kind: 'block', title: 'b', path: b, block: 'y=2\n', owner: 'root' },
  ];
  const j = new Journal();
  await runOps(host, ops, j);
  assert.deepEqual(
    host.argvs.map((v) => v.slice(0, 2)),
    [
      ['cat', '--'],
      ['cat', '--'],
      ['tee', '--'],
      ['tee', '--'],
    ],
  );
  assert.deepEqual(j.commands, [`h: root$ tee -- ${a}`, `h: root$ tee -- ${b}`]);
  assert.equal(readFileSync(a, 'utf8'), `own a\n\n${renderBlock('x=1\n')}`);
  assert.equal(readFileSync(b, 'utf8'), `own b\n\n${renderBlock('y=2\n')}`);

  const again = new Journal();
  const before = host.argvs.length;
  await runOps(host, ops, again);
  assert.equal(host.argvs.length - before, 2, 'two reads, no write');
  assert.deepEqual(again.skipped, ['h: a (already as rendered)', 'h: b (already as rendered)']);

  // The same path twice: the second op reads what the first wrote (not read together).
  const twice: Op[] = [ops[0]!, { kind: 'block', title: 'a again', path: a, block: 'x=1\n', owner: 'root' }];
  const t = new Journal();
  await runOps(host, twice, t);
  assert.deepEqual(t.skipped, ['h: a (already as rendered)', 'h: a again (already as rendered)']);
});

test('a block for a file that is not there stops with a clear failure, the other file untouched', async () => {
  const host = counting();
  const there = join(dir, 'there.conf');
  writeFileSync(there, 'own\n');
  const ops: Op[] = [
    { kind: 'block', title: 'missing', path: join(dir, 'missing.conf'), block: 'x=1\n', owner: 'root' },
    { kind: 'block', title: 'there', path: there, block: 'y=2\n', owner: 'root' },
  ];
  await assert.rejects(runOps(host, ops, new Journal()), /missing\.conf does not exist, cannot add our settings to it/);
  assert.equal(readFileSync(there, 'utf8'), 'own\n');
});

test('the local transport starts commands from its small helper process: not from the worker, with none of its environment', async () => {
  process.env.PRB_OPS_TEST_SECRET = 'hunter2';
  try {
    const host = new LocalHost('h');
    const r = await host.run({ argv: ['sh', '-c', 'echo $PPID; env'], as: 'root' });
    const [ppid, ...env] = r.stdout.split('\n');
    assert.notEqual(Number(ppid), process.pid, 'the helper started it');
    assert.ok(!env.some((l) => l.includes('hunter2')), 'the command sees none of the worker environment');
    const helperEnv = readFileSync(`/proc/${ppid}/environ`, 'utf8');
    assert.ok(!helperEnv.includes('hunter2'), 'nor does the helper');
    assert.match(readFileSync(`/proc/${ppid}/cmdline`, 'utf8'), /execa/);
  } finally {
    delete process.env.PRB_OPS_TEST_SECRET;
  }
});

test('the local transport: input on stdin, exit codes and output, a deadline reported as timed out, a cancel ends the command', async () => {
  const host = new LocalHost('h');
  assert.deepEqual(await host.run({ argv: ['cat'], as: 'root', input: 'in\n' }).then((r) => [r.exitCode, r.stdout]), [0, 'in']);
  const r = await host.run({ argv: ['sh', '-c', 'echo out; echo err >&2; exit 3'], as: 'root' });
  assert.deepEqual([r.exitCode, r.stdout, r.stderr, r.timedOut], [3, 'out', 'err', false]);
  const slow = await host.run({ argv: ['sleep', '30'], as: 'root', timeoutMs: 1000 });
  assert.deepEqual([slow.exitCode, slow.timedOut], [124, true]);
  assert.ok(slow.durationMs < 10_000);
  const abort = new AbortController();
  const started = Date.now();
  setTimeout(() => abort.abort(), 200);
  await assert.rejects(host.run({ argv: ['sleep', '30'], as: 'root', signal: abort.signal }), /was cancelled/);
  assert.ok(Date.now() - started < 5000);
});
