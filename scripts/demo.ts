// The demo: an embedded Temporal dev server (Web UI on), a worker, a real lab cluster, a full
// disaster and a recovery with live progress. Cleans everything up on exit and on Ctrl-C.
//   npm run demo            run it once
//   npm run demo -- --keep  stay up after the recovery (browse the Web UI), clean up on Ctrl-C
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { createLab, destroyLab, disaster, type Lab } from '../lab/lab.js';
import { newLabId } from '../lab/layout.js';
import { follow } from '../client/follow.js';
import { startOrAttachRecovery } from '../client/start-recovery.js';
import { renderReport } from '../common/report.js';
import { createWorker } from '../workers/create-worker.js';
import { startDevServer, type DevServer } from './dev-server.js';

const keep = process.argv.includes('--keep');
const say = (s: string) => console.log(s);
const cleanups: (() => Promise<unknown>)[] = [];
let cleaning: Promise<void> | undefined;
let interrupted = false;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    say('\n== cleaning up');
    for (const c of cleanups.reverse()) await c().catch((e) => say(`  cleanup: ${(e as Error).message}`));
    say('  done: no lab, loop device, mount or process left behind');
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

  say('\n== 2. the lab: a real cluster on this machine');
  // Cleanup knows the id before anything is built, so Ctrl-C half-way through still removes it all.
  const id = newLabId();
  cleanups.push(() => destroyLab(id));
  const lab: Lab = await createLab({ id, log: (l) => say(`  ${l}`) });
  say(`  spec: ${lab.specFile}`);

  say('\n== 3. the disaster: every compute host lost, only the storage survives');
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
