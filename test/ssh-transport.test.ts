// The ssh transport against a real OpenSSH server on loopback (a throwaway sshd with its own keys
// and config, started and stopped here), plus the exact argv of the ssh and docker transports.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa, type ResultPromise } from 'execa';
import { DockerHost, dockerArgv } from '../lib/hosts/docker.js';
import { SshHost, sshArgv, type SshTransport } from '../lib/hosts/ssh.js';
import { CommandCancelled, HostKeyRejected, HostUnreachable } from '../lib/hosts/types.js';
import { LocalHost } from '../lib/hosts/local.js';

const SSHD = '/usr/sbin/sshd';
const LOOPBACK = '127.0.0.1';
const OUTPUT_SCRIPT = 'exec "$@" >>"$0" 2>&1 </dev/null';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, LOOPBACK, resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection({ host: LOOPBACK, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

/** A unique sleep duration, so pgrep finds exactly the processes this test started. */
const uniqueSleep = (whole: number) => `${whole}.${process.pid}${Math.floor(Math.random() * 1e6)}`;
const sleepPids = async (duration: string): Promise<number[]> => {
  const r = await execa('pgrep', ['-xf', `sleep ${duration.replace('.', '\\.')}`], { reject: false });
  return r.stdout.split('\n').filter(Boolean).map(Number);
};

describe('SshHost against a real sshd on loopback', () => {
  let dir = '';
  let sshd: ResultPromise<{ reject: false; stdout: 'ignore' }> | undefined;
  let t: SshTransport;
  const leftovers: number[] = [];

  before(async () => {
    if (!existsSync(SSHD)) throw new Error(`${SSHD} missing: apt-get install -y openssh-server`);
    dir = await mkdtemp(join(tmpdir(), 'ssh-transport-test-'));
    const keygen = (name: string) => execa('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', name, '-f', join(dir, name)]);
    await Promise.all([keygen('host_key'), keygen('user_key'), keygen('other_host_key'), keygen('stranger_key')]);
    const port = await freePort();
    const hostPub = (await readFile(join(dir, 'host_key.pub'), 'utf8')).trim();
    const otherHostPub = (await readFile(join(dir, 'other_host_key.pub'), 'utf8')).trim();
    await writeFile(join(dir, 'authorized_keys'), await readFile(join(dir, 'user_key.pub')));
    await writeFile(join(dir, 'known_hosts'), `[${LOOPBACK}]:${port} ${hostPub}\n`);
    await writeFile(join(dir, 'empty_known_hosts'), '');
    await writeFile(join(dir, 'wrong_known_hosts'), `[${LOOPBACK}]:${port} ${otherHostPub}\n`);
    const config = [
      `ListenAddress ${LOOPBACK}`,
      `Port ${port}`,
      `HostKey ${join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      `PidFile ${join(dir, 'sshd.pid')}`,
      'StrictModes no',
      'PermitRootLogin prohibit-password',
    ];
    await writeFile(join(dir, 'sshd_config'), config.join('\n') + '\n');
    // sshd's privilege separation directory; normally made by the system service.
    await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
    sshd = execa(SSHD, ['-D', '-e', '-f', join(dir, 'sshd_config')], { reject: false, stdout: 'ignore' });
    for (const deadline = Date.now() + 10_000; !(await accepts(port));) {
      if (sshd.exitCode !== null || Date.now() > deadline) {
        sshd.kill('SIGKILL');
        throw new Error(`sshd did not start: ${(await sshd).stderr}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    t = {
      transport: 'ssh',
      address: LOOPBACK,
      port,
      user: 'root',
      identityFile: join(dir, 'user_key'),
      knownHostsFile: join(dir, 'known_hosts'),
      connectTimeoutSeconds: 5,
    };
  });

  after(async () => {
    for (const pid of leftovers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (sshd !== undefined) {
      sshd.kill('SIGTERM');
      await sshd;
    }
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  const host = () => new SshHost('node-a', 'postgres', t);

  test('argv arrives byte-for-byte through the remote shell', async () => {
    const words = [
      'two words',
      "it's",
      '"double"',
      `'"'"'`,
      '$HOME',
      '${USER}',
      '$(id)',
      '`id`',
      ';',
      'a; echo pwned',
      '&&',
      '|',
      '*',
      '?',
      '~',
      '#x',
      '!',
      '\\',
      'a\nb',
      '\n',
      '\t',
      '',
      'A=b',
      '-n',
      'ünïcødé ✓ 日本語 🐘',
    ];
    const r = await host().run({ argv: ['printf', '%s\\0', ...words], as: 'root', timeoutMs: 20_000 });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.timedOut, false);
    assert.deepEqual(r.stdout.split('\0'), [...words, '']);
  });

  test('exit code, stdout and stderr come back; a remote 255 is not taken for an ssh failure', async () => {
    const r = await host().run({ argv: ['sh', '-c', 'echo out; echo err >&2; exit 3'], as: 'root' });
    assert.deepEqual([r.exitCode, r.stdout, r.stderr, r.timedOut], [3, 'out', 'err', false]);
    const r255 = await host().run({ argv: ['sh', '-c', 'echo "psql: Connection refused" >&2; exit 255'], as: 'root' });
    assert.deepEqual([r255.exitCode, r255.stderr], [255, 'psql: Connection refused']);
  });

  test('input is delivered to stdin', async () => {
    const input = `line 1\n$HOME 'quoted' "dq" \`bt\`\nno newline at the end`;
    assert.equal((await host().run({ argv: ['cat'], as: 'root', input })).stdout, input);
    const big = 'x'.repeat(1 << 20);
    assert.equal((await host().run({ argv: ['wc', '-c'], as: 'db', input: big })).stdout.trim(), String(big.length));
  });

  test("as: 'db' runs as the database user, as: 'root' as root", async () => {
    assert.equal((await host().run({ argv: ['id', '-un'], as: 'db' })).stdout, 'postgres');
    assert.equal((await host().run({ argv: ['id', '-un'], as: 'root' })).stdout, 'root');
  });

  test('a hanging command times out and is killed on the remote side too', async () => {
    for (const as of ['root', 'db'] as const) {
      const duration = uniqueSleep(600);
      // The sleep is a grandchild (sh forks it): the whole process group must go.
      const started = Date.now();
      const r = await host().run({ argv: ['sh', '-c', `sleep ${duration}; echo not killed`], as, timeoutMs: 1500 });
      const elapsed = Date.now() - started;
      const left = await sleepPids(duration);
      leftovers.push(...left);
      assert.equal(r.timedOut, true, `as ${as}: ${JSON.stringify(r)}`);
      assert.equal(r.exitCode, 124);
      assert.ok(elapsed < 5000, `as ${as}: took ${elapsed} ms`);
      assert.deepEqual(left, [], `as ${as}: the remote sleep survived`);
    }
  });

  test('a cancelled command is ended on the remote side too (a clone an abort stops)', async () => {
    for (const as of ['root', 'db'] as const) {
      const duration = uniqueSleep(600);
      const ac = new AbortController();
      const started = Date.now();
      setTimeout(() => ac.abort(), 1000);
      const err = await host()
        .run({ argv: ['sh', '-c', `sleep ${duration}; echo not killed`], as, timeoutMs: 60_000, signal: ac.signal })
        .catch((e: unknown) => e);
      const elapsed = Date.now() - started;
      assert.ok(err instanceof CommandCancelled, `as ${as}: ${String(err)}`);
      assert.ok(elapsed < 6000, `as ${as}: took ${elapsed} ms`);
      let left = await sleepPids(duration);
      for (let i = 0; i < 30 && left.length; i++) {
        await new Promise((r) => setTimeout(r, 100));
        left = await sleepPids(duration);
      }
      leftovers.push(...left);
      assert.deepEqual(left, [], `as ${as}: the remote sleep survived the cancel`);
    }
  });

  test('a cancelled local command is ended with its whole process tree', async () => {
    const duration = uniqueSleep(600);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 500);
    const err = await new LocalHost('local')
      .run({ argv: ['sh', '-c', `sleep ${duration}; echo not killed`], as: 'db', timeoutMs: 60_000, signal: ac.signal })
      .catch((e: unknown) => e);
    assert.ok(err instanceof CommandCancelled, String(err));
    let left = await sleepPids(duration);
    for (let i = 0; i < 30 && left.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = await sleepPids(duration);
    }
    leftovers.push(...left);
    assert.deepEqual(left, [], 'the sleep survived the cancel');
  });

  test('outputFile: a daemon holding stdio open does not keep run() waiting', async () => {
    const duration = uniqueSleep(20);
    const outputFile = join(dir, "daemon out 'log'.txt");
    const started = Date.now();
    const r = await host().run({
      argv: ['sh', '-c', `(sleep ${duration} &) ; echo started; echo to stderr >&2`],
      as: 'root',
      outputFile,
      timeoutMs: 30_000,
    });
    const elapsed = Date.now() - started;
    const daemons = await sleepPids(duration);
    leftovers.push(...daemons);
    assert.ok(elapsed < 5000, `took ${elapsed} ms`);
    assert.deepEqual([r.exitCode, r.stdout, r.stderr, r.timedOut], [0, '', '', false]);
    assert.equal(await readFile(outputFile, 'utf8'), 'started\nto stderr\n');
    assert.equal(daemons.length, 1, 'the daemon is still running, detached');
  });

  test('a refused connection throws HostUnreachable quickly', async () => {
    const started = Date.now();
    await assert.rejects(
      new SshHost('node-b', 'postgres', { ...t, port: await freePort() }).run({ argv: ['true'], as: 'root' }),
      HostUnreachable,
    );
    assert.ok(Date.now() - started < 5000);
  });

  test('a key the server does not accept throws HostUnreachable', async () => {
    const stranger = new SshHost('node-a', 'postgres', { ...t, identityFile: join(dir, 'stranger_key') });
    await assert.rejects(
      stranger.run({ argv: ['true'], as: 'root' }),
      (e: unknown) => e instanceof HostUnreachable && /Permission denied/.test(e.message),
    );
  });

  test('an unknown or changed host key is refused: HostKeyRejected, not retryable HostUnreachable', async () => {
    for (const knownHosts of ['empty_known_hosts', 'wrong_known_hosts']) {
      const h = new SshHost('node-a', 'postgres', { ...t, knownHostsFile: join(dir, knownHosts) });
      await assert.rejects(
        h.run({ argv: ['true'], as: 'root' }),
        (e: unknown) => e instanceof HostKeyRejected && !(e instanceof HostUnreachable),
      );
    }
  });
});

describe('sshArgv', () => {
  const t: SshTransport = {
    transport: 'ssh',
    address: 'db1.example',
    port: 2222,
    user: 'root',
    identityFile: '/etc/runbook/id_ed25519',
    knownHostsFile: '/etc/runbook/known_hosts',
    connectTimeoutSeconds: 7,
  };
  const options = [
    'ssh',
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'ConnectTimeout=7',
    '-o',
    'ServerAliveInterval=10',
    '-o',
    'ServerAliveCountMax=3',
    '-o',
    'LogLevel=ERROR',
  ];
  const keys = ['-i', '/etc/runbook/id_ed25519', '-o', 'IdentitiesOnly=yes', '-o', 'UserKnownHostsFile=/etc/runbook/known_hosts'];
  const target = (user: string) => ['-p', '2222', '-l', user, '-T', '--', 'db1.example'];

  test('root login: root runs plain, db through runuser', () => {
    assert.deepEqual(sshArgv({ argv: ['id', '-un'], as: 'root' }, 'postgres', t), [...options, ...keys, ...target('root'), `'id' '-un'`]);
    assert.deepEqual(sshArgv({ argv: ['psql', '-c', "select 'x'"], as: 'db' }, 'postgres', t), [
      ...options,
      ...keys,
      ...target('root'),
      `'runuser' '-u' 'postgres' '--' 'psql' '-c' 'select '\\''x'\\'''`,
    ]);
  });

  test('other login users: sudo -n, or plain when the login user is the database user', () => {
    const admin = { ...t, user: 'admin', identityFile: undefined, knownHostsFile: undefined };
    assert.deepEqual(sshArgv({ argv: ['true'], as: 'root' }, 'postgres', admin), [
      ...options,
      ...target('admin'),
      `'sudo' '-n' '--' 'true'`,
    ]);
    assert.deepEqual(sshArgv({ argv: ['true'], as: 'db' }, 'postgres', admin), [
      ...options,
      ...target('admin'),
      `'sudo' '-n' '-u' 'postgres' '--' 'true'`,
    ]);
    const pg = { ...admin, user: 'postgres' };
    assert.deepEqual(sshArgv({ argv: ['true'], as: 'db' }, 'postgres', pg), [...options, ...target('postgres'), `'true'`]);
    assert.deepEqual(sshArgv({ argv: ['true'], as: 'root' }, 'postgres', pg), [
      ...options,
      ...target('postgres'),
      `'sudo' '-n' '--' 'true'`,
    ]);
  });

  test('timeout and outputFile are applied after the user switch, all in one quoted string', () => {
    const argv = sshArgv({ argv: ['pg_ctl', 'start'], as: 'db', timeoutMs: 60_000, outputFile: '/pg/log/start.log' }, 'postgres', t);
    assert.equal(
      argv.at(-1),
      `'runuser' '-u' 'postgres' '--' 'timeout' '-s' 'KILL' '60' 'sh' '-c' '${OUTPUT_SCRIPT}' '/pg/log/start.log' 'pg_ctl' 'start'`,
    );
  });
});

describe('dockerArgv', () => {
  test('as root and as the database user; -i only with input', () => {
    assert.deepEqual(dockerArgv({ argv: ['id', '-un'], as: 'root' }, 'postgres', 'pg-1'), [
      'docker',
      'exec',
      '-u',
      'root',
      'pg-1',
      'id',
      '-un',
    ]);
    assert.deepEqual(dockerArgv({ argv: ['tee', '/x y'], as: 'db', input: 'data' }, 'postgres', 'pg-1'), [
      'docker',
      'exec',
      '-i',
      '-u',
      'postgres',
      'pg-1',
      'tee',
      '/x y',
    ]);
  });

  test('timeout and outputFile inside the container, argv passed as is', () => {
    assert.deepEqual(dockerArgv({ argv: ['sh', '-c', 'a; b'], as: 'db', timeoutMs: 2500, outputFile: '/log' }, 'polardb', 'c'), [
      'docker',
      'exec',
      '-u',
      'polardb',
      'c',
      'timeout',
      '-s',
      'KILL',
      '3',
      'sh',
      '-c',
      OUTPUT_SCRIPT,
      '/log',
      'sh',
      '-c',
      'a; b',
    ]);
  });

  const hasDockerClient = (process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(join(d, 'docker')));
  test('no daemon or no such container throws HostUnreachable', { skip: !hasDockerClient }, async () => {
    const h = new DockerHost('node-c', 'postgres', `runbook-test-absent-${process.pid}-${Date.now()}`);
    await assert.rejects(h.run({ argv: ['true'], as: 'root', timeoutMs: 20_000 }), HostUnreachable);
  });
});
