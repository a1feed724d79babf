// The runbooks' steps, declared once: which activity on which node, what each needs first, its
// timeouts and retries, its title. Pure and deterministic: the workflows run these lists
// (workflows/run-steps.ts), `plan` renders them (lib/plan.ts), the raw benchmark runs them
// serially (bench/raw.ts). A second runbook is a second declaration.
import { ActivityCancellationType, type ActivityOptions } from '@temporalio/common';
import { failoverStandby, specAfterFailover } from './failover.js';
import type { StepName } from './report.js';
import { buildNeedsPrimary, buildUsesTemplates, nodesOf, primaryOf, sharedNodes, type ClusterSpec, type NodeSpec } from './spec.js';

const retry: ActivityOptions['retry'] = {
  initialInterval: '200ms',
  backoffCoefficient: 2,
  maximumInterval: '10s',
  maximumAttempts: 12,
  // A host key that changed may be another machine answering at that address: never retry into it.
  nonRetryableErrorTypes: ['HostKeyRejected'],
};

/**
 * Timeouts and retries per kind of step. Every activity heartbeats each second (the worker's
 * interceptor), so a 2 s heartbeat timeout notices a killed worker within 2 s and another worker
 * retries the step 200 ms later: the resume latency is about that timeout, not the step's length.
 * An abort waits until the step's commands are ended on the hosts (WAIT_CANCELLATION_COMPLETED).
 */
export const STEP_OPTIONS = {
  /** Host plumbing: attach, start pfsd/mount, binaries, fencing and slot checks. */
  quick: {
    startToCloseTimeout: '5 minutes',
    heartbeatTimeout: '2s',
    retry,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  },
  /** Building and starting nodes, cloning replicas, waiting for streaming, promoting: may take long. */
  long: {
    startToCloseTimeout: '6 hours',
    heartbeatTimeout: '2s',
    retry,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  },
} satisfies Record<string, ActivityOptions>;
export type Timeouts = keyof typeof STEP_OPTIONS;

/** How long waitStreaming waits for a node to stream before it fails (the activity's own limit). */
export const STREAMING_WAIT_SECONDS = 300;

/**
 * The activities the runbooks' steps run (their names in the worker): a step's own name, but the
 * failover's fence and spec steps, which run activities of their own.
 */
export type ActivityName = Exclude<StepName, 'writeSpec'> | 'fenceForFailover' | 'writeFailoverSpec';

export interface Step {
  /** The report's id: `startNode:pb1`, `checkRunbooks:promote`. */
  id: string;
  name: StepName;
  activity: ActivityName;
  node?: string;
  role?: NodeSpec['role'];
  /** attachStorage / startStorageDaemon: the shared disk or the standby's own. */
  disk?: 'shared' | 'own';
  /** Ids of the steps that must be done before this one starts. */
  needs: string[];
  timeouts: Timeouts;
  /** waitStreaming: how long it waits (STREAMING_WAIT_SECONDS). */
  waitsUpToSeconds?: number;
  /** Run by the node's rebuildReplica child workflow, not by the runbook itself. */
  inChild?: boolean;
  /** The workflow's phase while it runs (the Phase search attribute); phases only move forward. */
  phase: string;
  /** The plan's section it is rendered in. */
  section: string;
  title: string;
}

export interface Runbook {
  /** The phases in their order (a phase with no steps is still entered, as the workflow always did). */
  phases: string[];
  /** The plan's sections in their order (one without steps too). */
  sections: string[];
  /** In a valid order to run one by one: every step after what it needs. */
  steps: Step[];
}

type Decl = Omit<Step, 'id' | 'timeouts' | 'needs'> & { id?: string; needs?: string[]; timeouts?: Timeouts };

/** Collects the steps of a declaration, each with its id, needs and timeouts filled in. */
class Declaration {
  readonly steps: Step[] = [];
  add(d: Decl): Step {
    const s: Step = { ...d, id: d.id ?? (d.node ? `${d.name}:${d.node}` : d.name), needs: d.needs ?? [], timeouts: d.timeouts ?? 'quick' };
    this.steps.push(s);
    return s;
  }
  ids = (steps: Step[]): string[] => steps.map((s) => s.id);
}

const LONG = new Set<StepName>(['buildNode', 'startNode', 'waitStreaming', 'verifyData', 'promote', 'verifyFailover']);
const timeoutsOf = (name: StepName): Timeouts => (LONG.has(name) ? 'long' : 'quick');

/** The per-node steps both runbooks share. */
function nodeStep(spec: ClusterSpec, name: StepName, n: NodeSpec, more: Partial<Decl> & Pick<Decl, 'phase' | 'section'>): Decl {
  const disk = more.disk ? ` (${more.disk === 'own' ? 'its own disk' : `the shared disk ${spec.storage.diskName}`})` : '';
  const titles: Partial<Record<StepName, string>> = {
    provisionHost: `make the host of ${n.name} again`,
    attachStorage: `attach${disk} on ${n.name}`,
    startStorageDaemon: `start the storage daemon${disk} on ${n.name}`,
    prepareBinaries: `binaries on ${n.name}`,
    prepareTemplates: `config templates on ${n.name}`,
    buildNode: `build ${n.name} (${n.role})`,
    startNode: `start ${n.name} (${n.role})`,
    waitStreaming: `wait until ${n.name} streams`,
  };
  return {
    name,
    activity: name as ActivityName,
    node: n.name,
    role: n.role,
    title: titles[name] ?? `${name} on ${n.name}`,
    timeouts: timeoutsOf(name),
    ...(name === 'waitStreaming' ? { waitsUpToSeconds: STREAMING_WAIT_SECONDS } : {}),
    ...more,
  };
}

export interface RecoveryOptions {
  /**
   * The config templates as a step of their own, beside everything else, that no build waits for
   * (default). False: the binaries step fills them too, as in the recoveries started before.
   */
  templatesApart?: boolean;
  /**
   * The primary's storage first (default): its storage daemon is the first step started once the
   * shared disk is bound, and the binaries (with their templates; the primary's apart, see
   * primaryBinariesEarly) wait for that bind instead of running beside it. The attach and the daemon's start are the head of the critical
   * path; on hosts that share a machine the copies beside them slowed them threefold, and the
   * copies still end within pfsd's start. False: as in the recoveries started before.
   */
  primaryStorageFirst?: boolean;
  /**
   * With the primary's storage first: the primary's own binaries (and its config templates after
   * them) beside its attach, the other nodes' once the shared disk is bound (default). On new
   * hosts the primary's template fill (a real initdb, longer than pfsd's start) heads the critical
   * path; starting it beside the attach saves 0.1-0.4 s (the bench's polardb section), more than
   * the one copy beside the attach costs it. False: after the bind, as in the recoveries started
   * before.
   */
  primaryBinariesEarly?: boolean;
}

/**
 * recoverCluster: check -> fence -> hosts -> preflight -> storage beside the binaries -> the
 * primary -> slots -> standbys and replicas (in parallel) -> verify. Each step needs only what
 * it uses (critical-path scheduling): the primary's storage first, its binaries beside its attach,
 * the other nodes' once the shared disk is bound, their config templates beside everything (a
 * build copies them once made); each host's storage daemon once its own link is there; the
 * standby's own disk once the shared one is bound (two `losetup -f` at once may pick the same
 * device); a build that does not read from the primary (the profile says) beside the primary;
 * only starts wait for the primary and its slots.
 */
export function recoverySteps(spec: ClusterSpec, o: RecoveryOptions = {}): Runbook {
  const d = new Declaration();
  const primary = primaryOf(spec);
  const onNode = (n: NodeSpec, name: StepName, more: Partial<Decl> & Pick<Decl, 'phase' | 'section'>) =>
    d.add(nodeStep(spec, name, n, more));

  const check = d.add({
    name: 'checkRunbooks',
    activity: 'checkRunbooks',
    phase: 'check',
    section: 'check',
    title: 'no failover of the cluster runs',
  });
  const fence = d.add({
    name: 'fence',
    activity: 'fence',
    needs: [check.id],
    phase: 'fence',
    section: 'fence',
    title: 'prove no old node still writes to the shared storage',
  });
  // After the fence: a replacement host must never start while the old node may still run.
  const provisioned = spec.nodes.filter((n) => n.host.transport === 'docker' && n.host.provision);
  const hosts = provisioned.map((n) => onNode(n, 'provisionHost', { needs: [fence.id], phase: 'provision', section: 'provision' }));
  const templatesApart = o.templatesApart ?? true;
  // Read-only checks before any disk is attached or mounted.
  const preflight = d.add({
    name: 'preflight',
    activity: 'preflight',
    needs: [fence.id, ...d.ids(hosts)],
    phase: 'preflight',
    section: 'preflight',
    title: 'the disks, links and local dirs are as the spec says',
  });

  const shared = sharedNodes(spec);
  const storage = new Map<string, Step>(); // each node's last storage step
  // The first host binds the disk; hosts sharing the device then find it bound and only link it.
  const primaryFirst = o.primaryStorageFirst ?? true;
  const bound = onNode(primary, 'attachStorage', { disk: 'shared', needs: [preflight.id], phase: 'storage', section: 'attach' });
  const daemon = (n: NodeSpec, attach: Step) =>
    storage.set(n.name, onNode(n, 'startStorageDaemon', { disk: 'shared', needs: [attach.id], phase: 'storage', section: 'daemon' }));
  // Steps ready at once start in the order declared: the primary's daemon before the other attaches.
  if (primaryFirst) daemon(primary, bound);
  const attached = new Map([[primary.name, bound]]);
  for (const n of shared.slice(1))
    attached.set(n.name, onNode(n, 'attachStorage', { disk: 'shared', needs: [bound.id], phase: 'storage', section: 'attach' }));
  for (const n of shared) if (!(primaryFirst && n === primary)) daemon(n, attached.get(n.name)!);
  const beforeBind = (n: NodeSpec) => !primaryFirst || ((o.primaryBinariesEarly ?? true) && n === primary);
  const binaries = new Map(
    spec.nodes.map((n) => [
      n.name,
      onNode(n, 'prepareBinaries', { needs: [beforeBind(n) ? preflight.id : bound.id], phase: 'storage', section: 'binaries' }),
    ]),
  );
  // The config templates (a throwaway initdb: seconds) beside everything else: a build waits for
  // its binaries only, and its copy of the templates waits for a fill under way (lib/profiles).
  if (templatesApart)
    for (const n of spec.nodes.filter((n) => buildUsesTemplates(spec, n)))
      onNode(n, 'prepareTemplates', { needs: [binaries.get(n.name)!.id], phase: 'storage', section: 'binaries' });
  const buildNeeds = (n: NodeSpec) => [...(storage.has(n.name) ? [storage.get(n.name)!.id] : []), binaries.get(n.name)!.id];

  onNode(primary, 'buildNode', { needs: buildNeeds(primary), phase: 'primary', section: 'primary' });
  const started = onNode(primary, 'startNode', { needs: [`buildNode:${primary.name}`], phase: 'primary', section: 'primary' });
  const slots = d.add({
    name: 'validateSlots',
    activity: 'validateSlots',
    needs: [started.id],
    phase: 'slots',
    section: 'slots',
    title: 'the replication slots are there (a missing one waits at the slots gate)',
  });

  for (const n of nodesOf(spec, 'standby')) {
    const own = { disk: 'own' as const, phase: 'storage', section: 'standbys' };
    const attach = onNode(n, 'attachStorage', { ...own, needs: [bound.id] });
    storage.set(n.name, onNode(n, 'startStorageDaemon', { ...own, needs: [attach.id] }));
    // A standby rebuilds from its own disk: it builds beside the primary.
    const build = onNode(n, 'buildNode', { needs: buildNeeds(n), phase: 'primary', section: 'standbys' });
    const start = onNode(n, 'startNode', { needs: [build.id, slots.id], phase: 'standbys-and-replicas', section: 'standbys' });
    onNode(n, 'waitStreaming', { needs: [start.id], phase: 'standbys-and-replicas', section: 'standbys' });
  }
  for (const n of nodesOf(spec, 'replica')) {
    const rest = { phase: 'standbys-and-replicas', section: 'replicas', inChild: true };
    // A replica whose build reads from the primary (a postgres clone) builds in its child, after the slots.
    const build = buildNeedsPrimary(spec, n)
      ? onNode(n, 'buildNode', { ...rest, needs: [...buildNeeds(n), slots.id] })
      : onNode(n, 'buildNode', { needs: buildNeeds(n), phase: 'primary', section: 'replicas' });
    const start = onNode(n, 'startNode', { ...rest, needs: [build.id, slots.id] });
    onNode(n, 'waitStreaming', { ...rest, needs: [start.id] });
  }
  // Every step started is done before the verification: the binaries of nodes no build waited for included.
  d.add({
    name: 'verifyData',
    activity: 'verifyData',
    needs: d.ids(d.steps),
    timeouts: 'long',
    phase: 'verify',
    section: 'verify',
    title: 'the data is there, writable, and every node sees a probe row',
  });
  return {
    phases: ['check', 'fence', 'provision', 'preflight', 'storage', 'primary', 'slots', 'standbys-and-replicas', 'verify'],
    sections: [
      'check',
      'fence',
      'provision',
      'preflight',
      'attach',
      'daemon',
      'binaries',
      'primary',
      'slots',
      'standbys',
      'replicas',
      'verify',
    ],
    steps: d.steps,
  };
}

/**
 * failoverToStandby: no other runbook acts -> fence the old nodes and disk -> the standby's position
 * -> no recovery started meanwhile -> promote -> the new topology's slots -> the read-only nodes on
 * the standby's disk (each group after the last: attach, storage daemon, binaries, then one child
 * workflow each) -> verify -> the new spec, written.
 */
export function failoverSteps(spec: ClusterSpec, after: ClusterSpec = specAfterFailover(spec)): Runbook {
  const d = new Declaration();
  const standby = failoverStandby(spec);
  const newPrimary = primaryOf(after);
  const replicas = nodesOf(after, 'replica');
  const chain = (decl: Decl, prev: Step[]) => d.add({ ...decl, needs: d.ids(prev) });

  const check = chain(
    { name: 'checkRunbooks', activity: 'checkRunbooks', phase: 'check', section: 'check', title: 'no recovery of the cluster runs' },
    [],
  );
  const fence = chain(
    {
      name: 'fence',
      activity: 'fenceForFailover',
      phase: 'fence',
      section: 'fence',
      title: 'prove no old node runs and the old shared disk is out of use',
    },
    [check],
  );
  const position = chain(
    {
      name: 'recordPosition',
      activity: 'recordPosition',
      node: standby.name,
      role: 'standby',
      phase: 'position',
      section: 'position',
      title: `record the position of ${standby.name} (the data-loss window)`,
    },
    [fence],
  );
  // A recovery started while the gates waited must not run beside the promotion either.
  const recheck = chain(
    {
      id: 'checkRunbooks:promote',
      name: 'checkRunbooks',
      activity: 'checkRunbooks',
      phase: 'promote',
      section: 'promote',
      title: 'still no recovery of the cluster runs',
    },
    [position],
  );
  const promote = chain(
    {
      name: 'promote',
      activity: 'promote',
      node: standby.name,
      role: 'standby',
      timeouts: 'long',
      phase: 'promote',
      section: 'promote',
      title: `promote ${standby.name}, once`,
    },
    [recheck],
  );
  const slots = chain(
    {
      name: 'validateSlots',
      activity: 'validateSlots',
      node: newPrimary.name,
      phase: 'slots',
      section: 'slots',
      title: `the slots of the new read-only nodes on ${newPrimary.name}`,
    },
    [promote],
  );

  // PolarDB: the standby's disk is the new shared disk, attached and served by pfsd on every new
  // read-only node's host. postgres: each read-only node is a clone of the new primary.
  const onShared = sharedNodes(after).filter((n) => n.role === 'replica');
  const phase = { phase: 'replicas', section: 'replicas' };
  let last: Step[] = [slots];
  const group = (make: (n: NodeSpec, prev: Step[]) => Step, nodes: NodeSpec[]) => {
    const prev = last;
    const made = nodes.map((n) => make(n, prev));
    if (made.length) last = made;
    return made;
  };
  const onNode =
    (name: StepName, more: Partial<Decl> = {}) =>
    (n: NodeSpec, prev: Step[]) =>
      d.add({ ...nodeStep(after, name, n, { ...phase, ...more }), needs: d.ids(prev) });
  group(onNode('attachStorage', { disk: 'shared' }), onShared);
  group(onNode('startStorageDaemon', { disk: 'shared' }), onShared);
  group(onNode('prepareBinaries'), replicas);
  const built = last;
  const ends = replicas.map((n) => {
    const build = onNode('buildNode', { inChild: true })(n, built);
    const start = onNode('startNode', { inChild: true })(n, [build]);
    return onNode('waitStreaming', { inChild: true })(n, [start]);
  });
  if (ends.length) last = ends;

  const verify = chain(
    {
      name: 'verifyFailover',
      activity: 'verifyFailover',
      timeouts: 'long',
      phase: 'verify',
      section: 'verify',
      title: "the standby's data is all there, and every read-only node sees a probe row",
    },
    last,
  );
  chain(
    {
      name: 'writeSpec',
      activity: 'writeFailoverSpec',
      phase: 'verify',
      section: 'spec',
      title: 'write the spec of the cluster as it now is',
    },
    [verify],
  );
  return {
    phases: ['check', 'fence', 'position', 'promote', 'slots', 'replicas', 'verify'],
    sections: ['check', 'fence', 'position', 'promote', 'slots', 'replicas', 'verify', 'spec'],
    steps: d.steps,
  };
}

/** Whether the runbook fills the node's config templates in a step of their own (not its binaries step). */
export const hasTemplatesStep = (runbook: Runbook, node: string): boolean => runbook.steps.some((s) => s.id === `prepareTemplates:${node}`);

/** The steps of one plan section, in their order. */
export const stepsIn = (runbook: Runbook, section: string): Step[] => runbook.steps.filter((s) => s.section === section);

/**
 * Runs units of work each once what it needs is done; among those ready at once, in the order
 * given; `serial`: one at a time, in the order given. After a failure nothing new starts, and
 * the first failure is thrown (what still runs is the caller's to wait for). Plain promises, no
 * timers: deterministic in a workflow.
 */
export function runInOrder<U extends { id: string; needs: string[] }>(
  units: U[],
  run: (u: U) => Promise<unknown>,
  serial = false,
): Promise<void> {
  const started = new Set<string>();
  const done = new Set<string>();
  let running = 0;
  let failed = false;
  return new Promise((resolve, reject) => {
    const pump = () => {
      if (failed) return;
      if (done.size === units.length) return resolve();
      for (const u of units) {
        if (serial && running) return;
        if (started.has(u.id) || !u.needs.every((n) => done.has(n))) continue;
        started.add(u.id);
        running++;
        run(u).then(
          () => {
            running--;
            done.add(u.id);
            pump();
          },
          (err: unknown) => {
            running--;
            if (!failed) reject(err);
            failed = true;
          },
        );
      }
      if (!running && started.size < units.length)
        reject(
          new Error(
            `steps that can never start: ${units
              .filter((u) => !started.has(u.id))
              .map((u) => u.id)
              .join(', ')}`,
          ),
        );
    };
    pump();
  });
}
