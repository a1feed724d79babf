// The runbook's other decisions, with stub activities on a real dev server (no lab, no root):
// missing replication slots wait at the slots gate and are created only once approved; an abort
// during a running step reaches that step (its activity is cancelled) and ends the run Aborted,
// with nothing started after it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { CancelledFailure, Context } from '@temporalio/activity';
import type { Activities } from '../activities/index.js';
import type { Detailed, Progress, RecoveryReport } from '../lib/model/report.js';
import { labSpecAs as specOf, stepResult as ok, stubRunbooks } from './helpers/stub-runbooks.js';
import { failureType } from './helpers/worker.js';

/** Every stub call: `<cluster> <activity> <node or argument>`. */
const calls: string[] = [];
/** Clusters whose primary build hangs until cancelled, and what the cancellation did. */
const hang = new Map<string, { started: () => void; cancelled?: string }>();

const log =
  (name: string) =>
  async (spec: { cluster: string }, arg?: unknown): Promise<Detailed<any>> => {
    calls.push(`${spec.cluster} ${name} ${String(arg ?? '')}`);
    return ok();
  };

const stubs: Partial<Activities> = {
  async checkRunbooks(cluster) {
    calls.push(`${cluster} checkRunbooks`);
    return ok();
  },
  fence: async (spec) => {
    calls.push(`${spec.cluster} fence`);
    return ok({ proven: true, evidence: [], answering: [] });
  },
  preflight: log('preflight'),
  attachStorage: log('attachStorage'),
  startStorageDaemon: log('startStorageDaemon'),
  prepareBinaries: log('prepareBinaries'),
  async buildNode(spec, node) {
    calls.push(`${spec.cluster} buildNode ${node}`);
    const h = hang.get(spec.cluster);
    if (h && node === 'pb1') {
      h.started();
      const ctx = Context.current();
      const beat = setInterval(() => ctx.heartbeat(), 200);
      try {
        await ctx.cancelled;
      } catch (err) {
        h.cancelled = err instanceof CancelledFailure ? err.message : String(err);
        throw err;
      } finally {
        clearInterval(beat);
      }
    }
    return ok();
  },
  startNode: log('startNode'),
  async validateSlots(spec, create) {
    calls.push(`${spec.cluster} validateSlots ${create}`);
    return ok({ missing: spec.cluster.endsWith('slots') && !create ? ['replica1'] : [] });
  },
  waitStreaming: log('waitStreaming'),
  verifyData: log('verifyData'),
  async notifyOperators() {},
};

const run = stubRunbooks('decisions', stubs).recover;
const of = (cluster: string) => calls.filter((c) => c.startsWith(`${cluster} `)).map((c) => c.slice(cluster.length + 1));

async function until(what: string, ok: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; !(await ok()); i++) {
    assert.ok(i < 200, what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('missing slots wait at the slots gate; approving creates them once and the recovery goes on', async () => {
  const cluster = `d${randomBytes(3).toString('hex')}slots`;
  const handle = await run(specOf(cluster, { slots: { onMissing: 'approve' } }));
  await until('the recovery waits at the slots gate', async () => (await handle.query<Progress>('progress')).waitingFor?.gate === 'slots');
  const waiting = await handle.query<Progress>('progress');
  assert.match(waiting.waitingFor!.evidence.join('\n'), /replication slots missing on the primary: replica1/);
  assert.deepEqual(
    of(cluster).filter((c) => /^(validateSlots|startNode|waitStreaming|verifyData)/.test(c)),
    ['startNode pb1', 'validateSlots false'],
    'nothing that needs the slots ran before the approval',
  );
  await handle.signal('approve', { by: 'test' });
  const report = (await handle.result()) as RecoveryReport;
  assert.equal(report.outcome, 'recovered');
  assert.equal(of(cluster).filter((c) => c === 'validateSlots true').length, 1, 'the slots were created once, after the approval');
  assert.ok(
    of(cluster).some((c) => c.startsWith('verifyData')),
    `the recovery went on to the end: ${of(cluster).join(', ')}`,
  );
});

test('an abort during a running step cancels that step and ends the run Aborted; nothing starts after it', async () => {
  const cluster = `d${randomBytes(3).toString('hex')}abort`;
  let started!: () => void;
  const building = new Promise<void>((r) => (started = r));
  hang.set(cluster, { started });
  const handle = await run(specOf(cluster));
  await building;
  await handle.signal('abort', { by: 'test', reason: 'wrong cluster' });
  const err = (await handle.result().catch((e: unknown) => e)) as { cause?: { details?: Progress[]; message?: string } };
  assert.equal(failureType(err), 'Aborted');
  assert.ok(hang.get(cluster)!.cancelled !== undefined, 'the running buildNode saw its cancellation');
  const p = err.cause!.details![0]!;
  assert.equal(p.outcome, 'aborted');
  assert.match(p.failure!.cause, /wrong cluster/);
  assert.ok(!of(cluster).some((c) => c.startsWith('startNode')), `no start after the abort: ${of(cluster).join(', ')}`);
  assert.equal((await handle.describe()).searchAttributes.Outcome?.[0], 'aborted');
});
