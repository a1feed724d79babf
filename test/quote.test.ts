// quoteForShell against real shells: whatever the words, the shell must hand them back unchanged.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { execa } from 'execa';
import { OUTPUT_FILE_SCRIPT, farSideArgv, killedAtDeadline, quoteForShell } from '../lib/hosts/quote.js';

const TRICKY = [
  '',
  ' ',
  'two words',
  "'",
  "''",
  "it's",
  '"',
  `'"'"'`,
  '$HOME',
  '${HOME}',
  '$(id)',
  '`id`',
  ';',
  'a; rm -rf /nonexistent',
  '&&',
  '||',
  '|',
  '&',
  '>out',
  '<in',
  '*',
  '?',
  '[a-z]',
  '~',
  '~root',
  '#not a comment',
  '!',
  '!!',
  '\\',
  '\\n',
  'back\\slash\\',
  'a\nb',
  '\n',
  '\n\n',
  '\t',
  'A=b',
  'if',
  'then',
  '-n',
  '--',
  '%s',
  '{a,b}',
  'ünïcødé ✓ 日本語 🐘',
  '\x01\x1b[31m\x7f',
];

/** The shells a remote login could use; sh is dash on Debian. */
const SHELLS = ['/bin/sh', '/bin/bash', '/bin/dash'].filter((s) => existsSync(s));

/** Runs printf through the shell with the quoted words and returns the words it received. */
async function roundTrip(shell: string, words: string[]): Promise<string[]> {
  const r = await execa(shell, ['-c', `printf '%s\\0' ${quoteForShell(words)}`], { stripFinalNewline: false });
  const out = r.stdout.split('\0');
  assert.equal(out.pop(), '', 'output ends with a NUL');
  return out;
}

/** A deterministic generator, so a failure can be reproduced. */
function* randomWords(seed: number, count: number): Generator<string[]> {
  const alphabet = [...`ab Z09 '"\`$\\;&|<>(){}[]*?~#!=%\n\t-.,/`, 'é', '日', '🐘'];
  let s = seed;
  const next = (n: number) => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s % n;
  };
  for (let i = 0; i < count; i++) {
    yield Array.from({ length: 1 + next(5) }, () => Array.from({ length: next(12) }, () => alphabet[next(alphabet.length)]).join(''));
  }
}

describe('quoteForShell', () => {
  test('single-quotes every word and escapes single quotes', () => {
    assert.equal(quoteForShell(['ls', '-l']), `'ls' '-l'`);
    assert.equal(quoteForShell(["it's", '']), `'it'\\''s' ''`);
    assert.equal(quoteForShell([]), '');
  });

  test('refuses a NUL byte, which no argv can carry', () => {
    assert.throws(() => quoteForShell(['a\0b']), /NUL/);
  });

  for (const shell of SHELLS) {
    test(`${shell}: tricky words arrive byte-for-byte`, async () => {
      assert.deepEqual(await roundTrip(shell, TRICKY), TRICKY);
      for (const w of TRICKY.filter((w) => w !== '')) assert.deepEqual(await roundTrip(shell, [w]), [w]);
    });

    test(`${shell}: random words arrive byte-for-byte`, async () => {
      for (const words of randomWords(42, 150)) assert.deepEqual(await roundTrip(shell, words), words);
    });

    test(`${shell}: a first word is a command, never an assignment or a keyword`, async () => {
      for (const w of ['A=b', 'if', '!']) {
        const r = await execa(shell, ['-c', quoteForShell([w])], { reject: false });
        assert.equal(r.exitCode, 127, `${w} must be looked up as a command`);
      }
    });
  }
});

describe('farSideArgv', () => {
  test('passes argv through when there is nothing to add', () => {
    assert.deepEqual(farSideArgv({ argv: ['true'], as: 'root' }), ['true']);
  });

  test('kills at the deadline in whole seconds, rounded up', () => {
    assert.deepEqual(farSideArgv({ argv: ['sleep', '9'], as: 'root', timeoutMs: 1500 }), ['timeout', '-s', 'KILL', '2', 'sleep', '9']);
    assert.deepEqual(farSideArgv({ argv: ['x'], as: 'db', timeoutMs: 10 }), ['timeout', '-s', 'KILL', '1', 'x']);
  });

  test('redirects to outputFile through the constant script, the file as $0', () => {
    assert.deepEqual(farSideArgv({ argv: ['pg_ctl', 'start'], as: 'db', outputFile: '/var/log/pg.log', timeoutMs: 30_000 }), [
      'timeout',
      '-s',
      'KILL',
      '30',
      'sh',
      '-c',
      'exec "$@" >>"$0" 2>&1 </dev/null',
      '/var/log/pg.log',
      'pg_ctl',
      'start',
    ]);
  });

  test('refuses an empty argv (ssh would open a login shell)', () => {
    assert.throws(() => farSideArgv({ argv: [], as: 'root' }), /empty argv/);
  });

  test('the output script appends both streams, detaches stdin, and does not wait for a daemon', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'quote-test-'));
    try {
      const file = join(dir, `out put 'it's' $x.log`);
      const marker = `20.${process.pid}${Date.now() % 1000}`;
      const started = Date.now();
      const script = `echo "out $1"; echo err >&2; cat; (sleep ${marker} &)`;
      const r = await execa('sh', ['-c', OUTPUT_FILE_SCRIPT, file, 'sh', '-c', script, 'sh', 'a b'], { input: 'never read' });
      assert.ok(Date.now() - started < 5000, 'returned without waiting for the daemon');
      assert.equal(r.stdout, '');
      assert.equal(await readFile(file, 'utf8'), 'out a b\nerr\n');
      const daemon = await execa('pgrep', ['-xf', `sleep ${marker.replace('.', '\\.')}`], { reject: false });
      assert.equal(daemon.exitCode, 0, 'the daemon outlived the command');
      for (const pid of daemon.stdout.split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('killedAtDeadline', () => {
  const cmd = { argv: ['sleep', '9'], as: 'root' as const, timeoutMs: 1500 };
  test('a SIGKILL death at or after the (rounded up) deadline', () => {
    assert.equal(killedAtDeadline(cmd, 137, 2100), true);
    assert.equal(killedAtDeadline(cmd, 255, 2000), true);
  });
  test('not before the deadline, not another exit code, not without a timeout', () => {
    assert.equal(killedAtDeadline(cmd, 137, 1600), false);
    assert.equal(killedAtDeadline(cmd, 1, 5000), false);
    assert.equal(killedAtDeadline({ argv: ['x'], as: 'root' }, 137, 5000), false);
  });
});
