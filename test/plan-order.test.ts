// The plan and the workflow run one declaration (lib/model/steps.ts): in every recorded history of a
// recovery or a failover (test/histories, on the schedule each was recorded with: step after step,
// or critical path), the workflow ran exactly the steps the plan lists, each only once every step
// it needs had completed; and the plan lists the steps in that same order, each after what it needs,
// its text too. Pure: reads the histories, starts nothing.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import proto from '@temporalio/proto';
import { renderFailoverPlan, renderPlan } from '../lib/plan.js';
import { postgresProfile } from '../lib/profiles/postgres.js';
import { parseSpec, type ClusterSpecInput } from '../lib/model/spec.js';
import { failoverSteps, recoverySteps, stepsIn, type Runbook, type Step } from '../lib/model/steps.js';

const dir = 'test/histories';
const decode = (p: unknown) => defaultPayloadConverter.fromPayload(p as Payload);
const NODE_ARG = new Set(['attachStorage', 'startStorageDaemon', 'prepareBinaries', 'buildNode', 'startNode', 'waitStreaming']);

interface Ran {
  id: string;
  /** Event ids: when it was scheduled (a child: started), when it completed. */
  scheduled: number;
  completed?: number;
}

/** What a history ran, as step ids: activities by their summary (v1, before summaries: by type and node), children by their steps. */
function stepsRan(events: any[], runbook: Runbook): { ran: Ran[]; completed: boolean } {
  const ran: Ran[] = [];
  const byEvent = new Map<number, Ran[]>();
  for (const e of events) {
    const id = Number(String(e.eventId));
    const a = e.activityTaskScheduledEventAttributes;
    if (a && a.activityType.name !== 'notifyOperators') {
      const summary = e.userMetadata?.summary ? String(decode(e.userMetadata.summary)) : undefined;
      const args = (a.input?.payloads ?? []).map(decode);
      const [name, node] = summary
        ? summary.replace(/ \(\w+\)$/, '').split(' ')
        : [a.activityType.name, NODE_ARG.has(a.activityType.name) ? String(args[1]) : undefined];
      const r = { id: node ? `${name}:${node}` : name!, scheduled: id };
      if (r.id === 'validateSlots' && ran.some((x) => x.id === 'validateSlots')) r.id = 'validateSlots:create';
      ran.push(r);
      byEvent.set(id, [r]);
    }
    const child = e.startChildWorkflowExecutionInitiatedEventAttributes;
    if (child) {
      const node = String(child.workflowId).split('/').pop();
      const rs = runbook.steps.filter((s) => s.inChild && s.node === node).map((s) => ({ id: s.id, scheduled: id }));
      ran.push(...rs);
      byEvent.set(id, rs);
    }
    const done = e.activityTaskCompletedEventAttributes ?? e.childWorkflowExecutionCompletedEventAttributes;
    if (done) for (const r of byEvent.get(Number(String(done.scheduledEventId ?? done.initiatedEventId))) ?? []) r.completed = id;
  }
  return { ran, completed: events.some((e) => e.workflowExecutionCompletedEventAttributes) };
}

/** The patches a history's code had. */
function patchesOf(events: any[]): Set<string> {
  const patches = new Set<string>();
  for (const e of events) {
    const marker = e.markerRecordedEventAttributes;
    if (marker?.markerName === 'core_patch') patches.add((decode(marker.details['patch-data'].payloads[0]) as { id: string }).id);
  }
  return patches;
}

/** The declaration without the steps a history's code did not have yet (its patches say): their needs pass on. */
function without(runbook: Runbook, drop: (s: Step) => boolean): Step[] {
  const dropped = new Map(runbook.steps.filter(drop).map((s) => [s.id, s]));
  const needsOf = (ids: string[]): string[] => ids.flatMap((n) => (dropped.has(n) ? needsOf(dropped.get(n)!.needs) : [n]));
  return runbook.steps.filter((s) => !dropped.has(s.id)).map((s) => ({ ...s, needs: [...new Set(needsOf(s.needs))] }));
}

/** Each needle on a line after the previous one's line. */
function assertLinesInOrder(text: string, needles: { what: string; match: (line: string) => boolean }[]): void {
  const lines = text.split('\n');
  let at = 0;
  for (const n of needles) {
    const i = lines.findIndex((l, k) => k >= at && n.match(l));
    assert.ok(i >= 0, `the plan shows ${n.what} after line ${at}`);
    at = i + 1;
  }
}

/** How the plan's text heads a step on a node. */
const HEADS: Record<string, RegExp> = {
  attachStorage: /\): attach /,
  startStorageDaemon: /\): \(first puts /,
  prepareBinaries: /\):( binaries)?$/,
  buildNode: /\): build \(/,
  startNode: /\): start \(/,
  waitStreaming: /\): wait until it streams/,
};

const files = readdirSync(dir).filter((f) => /^v\w+-(recover|failover)-.*\.json$/.test(f) && !f.endsWith('-pb2.json'));

test('the recorded histories cover both runbooks on both schedules', () => {
  assert.ok(files.some((f) => f.includes('-failover-')));
  assert.ok(files.some((f) => f.startsWith('v2-recover-'))); // step after step
  assert.ok(files.some((f) => f.startsWith('v3-recover-'))); // critical path
});

for (const file of files.sort())
  test(`${file}: the workflow ran the plan's steps, in its order`, () => {
    const { events } = proto.temporal.api.history.v1.History.fromObject(JSON.parse(readFileSync(join(dir, file), 'utf8'))) as {
      events: any[];
    };
    const started = events[0].workflowExecutionStartedEventAttributes;
    const failover = started.workflowType.name === 'failoverToStandby';
    const spec = parseSpec((decode(started.input.payloads[0]) as { spec: ClusterSpecInput }).spec);
    const patches = patchesOf(events);
    const runbook = failover
      ? failoverSteps(spec)
      : recoverySteps(spec, {
          templatesApart: patches.has('templates-apart'),
          primaryStorageFirst: patches.has('primary-storage-first'),
          primaryBinariesEarly: patches.has('primary-binaries-early'),
        });
    const { ran, completed } = stepsRan(events, runbook);

    // The steps its code had (recoveries recorded before these patches did not run them; the
    // declared steps, `step-model`, all).
    const declared = failover
      ? runbook.steps
      : without(
          runbook,
          (s) =>
            !patches.has('step-model') &&
            ((s.name === 'checkRunbooks' && !patches.has('refuse-beside-failover')) ||
              (s.name === 'provisionHost' && !patches.has('provision-hosts'))),
        );
    const byId = new Map(declared.map((s) => [s.id, s]));
    const ranById = new Map(ran.map((r) => [r.id, r]));
    assert.equal(ranById.size, ran.length, `${file}: no step ran twice`);

    // Only declared steps ran, each once every step it needs had completed.
    for (const r of ran) {
      if (r.id === 'validateSlots:create') continue; // the slots gate's, after validateSlots
      const s = byId.get(r.id);
      assert.ok(s, `${file}: ${r.id} is a declared step`);
      for (const need of s.needs) {
        if (s.inChild && byId.get(need)?.inChild && byId.get(need)!.node === s.node) continue; // inside the child: below
        const n = ranById.get(need);
        assert.ok(n?.completed !== undefined && n.completed < r.scheduled, `${file}: ${r.id} started after ${need} completed`);
      }
    }
    // Inside each child (its own history): its steps in their order, each after the one before completed.
    for (const node of new Set(declared.filter((s) => s.inChild).map((s) => s.node!))) {
      const childFile = join(dir, file.replace(/\.json$/, `-${node}.json`));
      if (!existsSync(childFile)) continue;
      const child = proto.temporal.api.history.v1.History.fromObject(JSON.parse(readFileSync(childFile, 'utf8'))) as { events: any[] };
      const inChild = stepsRan(child.events, runbook).ran;
      const group = declared.filter((s) => s.inChild && s.node === node).map((s) => s.id);
      assert.deepEqual(
        inChild.map((r) => r.id),
        group,
        `${childFile}: the child ran its declared steps in order`,
      );
      for (const [i, r] of inChild.entries())
        if (i > 0) assert.ok(inChild[i - 1]!.completed! < r.scheduled, `${childFile}: ${r.id} after ${inChild[i - 1]!.id} completed`);
    }
    // A run that completed ran every declared step.
    if (completed)
      assert.deepEqual(
        declared.map((s) => s.id).filter((id) => !ranById.has(id)),
        [],
        `${file}: every declared step ran`,
      );

    // Today's plan (today's declaration) lists the steps each after what it needs...
    // The plan renders section by section (lib/plan.ts).
    const today = failover ? runbook : recoverySteps(spec);
    const planned = today.sections.flatMap((name) => stepsIn(today, name));
    const seen = new Set<string>();
    for (const s of planned) {
      for (const need of s.needs) assert.ok(seen.has(need), `${file}: the plan lists ${s.id} after ${need}`);
      seen.add(s.id);
    }
    assert.deepEqual([...seen].sort(), today.steps.map((s) => s.id).sort(), `${file}: the plan lists every step`);
    // ... and its text shows them in that order.
    const text = (failover ? renderFailoverPlan : renderPlan)(spec, postgresProfile);
    assertLinesInOrder(
      text,
      planned
        .filter((s) => s.node && HEADS[s.name])
        .map((s) => ({ what: s.id, match: (l: string) => l.startsWith(`${s.node} (`) && HEADS[s.name]!.test(l) })),
    );
  });
