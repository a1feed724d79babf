// The demo: an embedded Temporal dev server (Web UI on), a worker, a real lab cluster, a full
// disaster and a recovery with live progress. Cleans everything up on exit and on Ctrl-C.
//   npm run demo            run it once
//   npm run demo -- --keep  stay up after the recovery (browse the Web UI), clean up on Ctrl-C
//   npm run demo -- --hosts containers   the seed's own topology: one container per node in the
//                           lab's Docker engine, the disaster `docker rm -f` of pb1 and pb2 and a restart
//                           of pb3, the recovery re-creating the containers (host.provision)
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { createLab, destroyLab, disaster, type Lab } from '../lab/lab.js';
import { newLabId } from '../lab/layout.js';
import { stopIdleEngine } from '../lab/containers/engine.js';
import { follow } from '../client/follow.js';
import { startOrAttachRecovery } from '../client/start-recovery.js';
import { renderReport } from '../lib/model/report.js';
import { createWorker } from '../workers/create-worker.js';
import { startDevServer, type DevServer } from './dev-server.js';

const keep = process.argv.includes('--keep');
const hostsAt = process.argv.indexOf('--hosts');
const hostsArg = hostsAt < 0 ? 'local' : process.argv[hostsAt + 1];
if (hostsArg !== 'local' && hostsArg !== 'containers') {
  console.error(`demo: --hosts must be local or containers (got ${hostsArg})`);
  process.exit(2);
}
const hosts: 'local' | 'containers' = hostsArg;
const containers = hostsArg === 'containers';
const say = (s: string) => console.log(s);
const cleanups: (() => Promise<unknown>)[] = [];
let cleaning: Promise<void> | undefined;
let interrupted = false;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    say('\n== cleaning up');
    for (const c of cleanups.reverse()) await c().catch((e) => say(`  cleanup: ${(e as Error).message}`));
    say(`  done: no lab, loop device, mount${containers ? ', container, network, Docker engine' : ''} or process left behind`);
  })();
  return cleaning;
}
// `on`, not `once`: execa's exit hook re-raises the signal (killing us mid-cleanup) when it
// believes no one else listens.
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    say(`\n${sig}: stopping`);
    void cleanup().then(() => process.exit(130));
  });

async function main() {
  const t0 = Date.now();
  Runtime.install({ logger: new DefaultLogger('WARN') });
  say('== 1. Temporal dev server (embedded)');
  const server: DevServer = await startDevServer();
  cleanups.push(() => server.stop());
  say(`  gRPC ${server.address}   Web UI ${server.uiUrl}`);

  const connection = await NativeConnection.connect({ address: server.address });
  const worker = await createWorker({ connection });
  const running = worker.run();
  cleanups.push(async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown(); // the SDK stops it by itself on Ctrl-C
    await running;
    await connection.close();
  });
  const client = new Client({ connection: await Connection.connect({ address: server.address }) });
  say('  worker polling task queue polar-runbook');

  say(
    containers
      ? "\n== 2. the lab: the seed's topology, one container per node (pb1 primary, pb2 replica, pb3 standby)"
      : '\n== 2. the lab: a real cluster on this machine',
  );
  // Cleanup knows the id before anything is built, so Ctrl-C half-way through still removes it all.
  const id = newLabId();
  cleanups.push(async () => {
    await destroyLab(id);
    if (containers) await stopIdleEngine((l) => say(`  ${l}`));
  });
  const lab: Lab = await createLab({ id, hosts, log: (l) => say(`  ${l}`) });
  say(`  spec: ${lab.specFile}`);

  say(
    containers
      ? '\n== 3. the disaster: docker rm -f of pb1 and pb2, pb3 restarted, every loop device gone; only the images survive'
      : '\n== 3. the disaster: every compute host lost, only the storage survives',
  );
  const print = await disaster(lab, (l) => say(`  ${l}`));
  say('  data fingerprint recorded before the disaster:');
  for (const [t, p] of Object.entries(print.tables)) say(`    ${t.padEnd(4)} rows=${String(p.rows).padStart(6)}  md5=${p.checksum}`);

  say('\n== 4. the recovery (recoverCluster workflow), live');
  const { handle } = await startOrAttachRecovery(client, lab.spec.cluster, { spec: lab.spec, trigger: 'cli' });
  const report = await follow(handle);

  say('\n== 5. the report');
  say(renderReport(report));
  say(`\n  RTO ${(report.rtoMs / 1000).toFixed(2)} s (trigger to verified, writable cluster with replica and standby streaming)`);
  say(`  Web UI: ${server.uiUrl}/namespaces/default/workflows/${encodeURIComponent(handle.workflowId)}`);
  say(`  whole demo so far: ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  if (keep) {
    say('\n--keep: everything stays up; press Ctrl-C to clean up.');
    await new Promise(() => {});
  }
}

main().then(
  () => cleanup(),
  async (err) => {
    if (interrupted) return; // the signal handler cleans up and exits
    console.error(`\ndemo failed: ${(err as Error).stack ?? err}`);
    await cleanup();
    process.exit(1);
  },
);
