// Records the Temporal histories of real runs into test/histories/*.json, for the determinism guard
// (test/replay.test.ts replays every file against the current workflow code: a change that would
// break a recovery already running fails there first).
//
//   node --import tsx scripts/record-histories.ts [failover | containers]     (root: it builds a lab)
//
// Runs, on a fresh lab and an embedded dev server, with the worker in this process:
//   recover-full            a full recovery after the disaster (and its rebuildReplica child)
//   recover-already-healthy the same workflow on the healthy cluster: nothing to do
//   recover-approved        requireApproval: waits at the gate, approved, recovers (after a new disaster)
//   recover-aborted-at-gate requireApproval: waits at the gate, aborted: fails as Aborted
//   failover-fence-aborted  failoverToStandby while the old primary runs: waits at its fence gate, aborted
//   failover-full           failoverToStandby after `disaster --storage-lost` (and its rebuildReplica child)
// With the argument `failover`, only the failover histories are recorded. With `containers`, only
//   recover-containers-full  a full recovery of the container lab (lab/containers): provisionHost
//                            re-creates the removed containers (the `provision-hosts` patch)
// Each file is the history as the client fetches it (JSON.stringify of fetchHistory()), plus the
// workflow id it ran under (histories do not hold it; recoverCluster checks it). Files are named
// `<version>-<run>.json`: bump VERSION when the workflows change, and keep the older files, so
// recoveries recorded before a change keep replaying after it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { startOrAttachFailover } from '../client/start-failover.js';
import { startOrAttachRecovery } from '../client/start-recovery.js';
import type { RecoverInput } from '../lib/model/input.js';
import { stopIdleEngine } from '../lab/containers/engine.js';
import { createLab, destroyLab, disaster, type Lab } from '../lab/lab.js';
import { abortSignal, approveSignal, progressQuery } from '../workflows/definitions.js';
import { createWorker } from '../workers/create-worker.js';
import { startDevServer } from './dev-server.js';

const out = fileURLToPath(new URL('../test/histories/', import.meta.url));
/**
 * The workflow code's generation: v2 has the cancellation scope, gate timeouts, Outcome and the
 * children's search attributes; v3 adds the check for a running failover, host provisioning and
 * critical-path scheduling; v4 runs the declared steps (lib/model/steps.ts, the `step-model` patch);
 * v5 makes the config templates a step of their own, beside everything else (the `templates-apart` patch);
 * v6 starts the primary's storage daemon first and the binaries once the shared disk is bound
 * (the `primary-storage-first` patch); v7 starts the primary's own binaries beside its attach
 * (the `primary-binaries-early` patch).
 */
const VERSION = 'v7';
const log = (line: string) => console.log(`[record-histories] ${line}`);

async function save(client: Client, name: string, handle: WorkflowHandle): Promise<void> {
  const { runId } = await handle.describe();
  const write = async (file: string, workflowId: string, run: string) => {
    const history = await client.workflow.getHandle(workflowId, run).fetchHistory();
    const json = JSON.parse(JSON.stringify(history)) as { events: { childWorkflowExecutionStartedEventAttributes?: unknown }[] };
    writeFileSync(join(out, file), JSON.stringify({ workflowId, ...json }, null, 1) + '\n');
    log(`${file}: ${json.events.length} events of ${workflowId}`);
    return json.events;
  };
  const events = await write(`${VERSION}-${name}.json`, handle.workflowId, runId);
  for (const e of events) {
    const child = (
      e.childWorkflowExecutionStartedEventAttributes as { workflowExecution?: { workflowId: string; runId: string } } | undefined
    )?.workflowExecution;
    if (child) await write(`${VERSION}-${name}-${child.workflowId.split('/').pop()}.json`, child.workflowId, child.runId);
  }
}

async function waitAtGate(handle: WorkflowHandle): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await handle.query(progressQuery)).waitingFor) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${handle.workflowId} never waited at its gate`);
}

async function main(): Promise<void> {
  mkdirSync(out, { recursive: true });
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const dev = await startDevServer();
  const nativeConnection = await NativeConnection.connect({ address: dev.address });
  const connection = await Connection.connect({ address: dev.address });
  const client = new Client({ connection });
  const worker = await createWorker({ connection: nativeConnection });
  const running = worker.run();
  let lab: Lab | undefined;
  try {
    const containers = process.argv[2] === 'containers';
    lab = await createLab({ replicas: 1, log, ...(containers ? { hosts: 'containers' as const } : {}) });
    const input = (more: Partial<RecoverInput> = {}): RecoverInput => ({ spec: lab!.spec, trigger: 'test', ...more });
    const run = async (name: string, i: RecoverInput, gate?: (h: WorkflowHandle) => Promise<void>) => {
      const { handle } = await startOrAttachRecovery(client, lab!.spec.cluster, i);
      if (gate) await gate(handle);
      const outcome = await handle.result().then(
        (r: { outcome: string }) => r.outcome,
        (e: Error) => `failed: ${(e.cause as Error | undefined)?.message ?? e.message}`,
      );
      log(`${name}: ${outcome}`);
      await save(client, name, handle);
    };

    if (containers) {
      await disaster(lab, log);
      await run('recover-containers-full', input());
      return;
    }
    // The recoveries end on a healthy cluster: the failover's fence then finds the old primary running.
    if (process.argv[2] !== 'failover') {
      await disaster(lab, log);
      await run('recover-full', input());
      await run('recover-already-healthy', input());
      await disaster(lab, log);
      await run('recover-aborted-at-gate', input({ requireApproval: true }), async (h) => {
        await waitAtGate(h);
        await h.signal(abortSignal, { by: 'record-histories', reason: 'recorded abort' });
      });
      await run('recover-approved', input({ requireApproval: true }), async (h) => {
        await waitAtGate(h);
        await h.signal(approveSignal, { by: 'record-histories' });
      });
    }
    const failover = async (name: string, gate?: (h: WorkflowHandle) => Promise<void>) => {
      const { handle } = await startOrAttachFailover(client, lab!.spec.cluster, input());
      if (gate) await gate(handle);
      const outcome = await handle.result().then(
        (r: { outcome: string }) => r.outcome,
        (e: Error) => `failed: ${(e.cause as Error | undefined)?.message ?? e.message}`,
      );
      log(`${name}: ${outcome}`);
      await save(client, name, handle);
    };
    await failover('failover-fence-aborted', async (h) => {
      await waitAtGate(h);
      await h.signal(abortSignal, { by: 'record-histories', reason: 'recorded abort: the old primary runs' });
    });
    await disaster(lab, log, { storageLost: true });
    await failover('failover-full');
  } finally {
    worker.shutdown();
    await running;
    await nativeConnection.close();
    await connection.close();
    if (lab) await destroyLab(lab, log);
    await stopIdleEngine(log);
    await dev.stop();
  }
}

main().catch((err: Error) => {
  console.error(`record-histories: ${err.stack ?? err.message}`);
  process.exitCode = 1;
});
