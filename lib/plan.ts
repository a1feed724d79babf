// renderPlan: the recovery as a reviewable runbook: per step and per host, in the workflow's
// order, every command as the activities will run it, every config block as it will be written,
// and when each is skipped. Pure and deterministic: `polar-runbook plan <spec>` prints it.
import { nodeNamed, nodesOf, primaryOf, sharedNodes, type ClusterSpec, type Disk, type NodeSpec } from './model/spec.js';
import { failoverSteps, recoverySteps, stepsIn, type Step } from './model/steps.js';
import { renderCmd, shellWord, type Cmd } from './hosts/types.js';
import { renderBlock } from './ops.js';
import { failoverStandby, oldNodes, specAfterFailover } from './model/failover.js';
import { agentArgv } from './fencing.js';
import { dockerInspectArgv, dockerRunArgv } from './provision.js';
import {
  CREATE_SLOT_SQL,
  PROBE_INSERT_SQL,
  SLOTS_SQL,
  STANDBY_POSITION_SQL,
  STREAMING_SQL,
  TABLES_SQL,
  TIMELINE_SQL,
  withParam,
} from './sql.js';
import { MARKER_FILE, promoteOp } from './profiles/common.js';
import * as S from './profiles/storage.js';
import type { Check, Op, Profile } from './profiles/types.js';

/** Stands for the device `losetup -f` prints, which only the run itself knows. */
const LOOP = '/dev/loopN';

const where = (n: NodeSpec): string => {
  const h = n.host;
  const via =
    h.transport === 'local' ? 'this machine' : h.transport === 'docker' ? `docker ${h.container}` : `ssh ${h.user}@${h.address}:${h.port}`;
  return `${n.name} (${n.role}, ${n.address}:${n.port}, via ${via})`;
};

const words = (argv: string[]): string => argv.map(shellWord).join(' ');

function cmdLines(cmd: Cmd, node: NodeSpec, notes: string[] = []): string[] {
  if (cmd.outputFile) notes = [`output to ${cmd.outputFile}`, ...notes];
  return [`    ${renderCmd(cmd, node.osUser)}`, ...(notes.length ? [`      (${notes.join('; ')})`] : [])];
}

function opLines(op: Op, node: NodeSpec): string[] {
  const owner = op.kind === 'run' || op.kind === 'require' ? '' : op.owner === 'root' ? 'root' : node.osUser;
  switch (op.kind) {
    case 'run':
      return [`  - ${op.title}`, ...cmdLines(op.cmd, node, op.skipIf ? [`skipped when: ${op.skipIf.label ?? words(op.skipIf.argv)}`] : [])];
    case 'file':
      return [
        `  - ${op.title}: write ${op.path} (as ${owner}, mode ${op.mode}; skipped when already so):`,
        ...op.content.trimEnd().split('\n'),
      ];
    case 'block':
      return [
        `  - ${op.title}: append to ${op.path} (as ${owner}; replaces our earlier block, skipped when already so):`,
        ...renderBlock(op.block).trimEnd().split('\n'),
      ];
    case 'require':
      return [`  - ${op.title}`, `    requires: ${op.probe.label ?? words(op.probe.argv)}`, `      (else stops: ${op.failure})`];
  }
}

const checkLines = (check: Check, node: NodeSpec): string[] => [`  - check`, ...cmdLines(check.cmd, node)];

/**
 * What attachStorage runs: reuse the loop device bound to the image, else bind a free one; then
 * the link. A host sharing the device (pb2 in the seed) finds it bound and only links it.
 */
function attachLines(node: NodeSpec, disk: Disk, binder?: NodeSpec): string[] {
  const link = S.diskLink(disk);
  const out = [`${where(node)}: attach ${disk.image ?? disk.device} as ${link}`];
  const step = (title: string, cmd: Cmd, notes: string[] = []) => out.push(`  - ${title}`, ...cmdLines(cmd, node, notes));
  const device = disk.device ?? LOOP;
  if (disk.device) step('the block device is there', S.deviceExists(disk.device));
  else {
    step('the image is there', S.imageExists(disk.image!));
    if (node.host.transport === 'docker')
      step("the kernel's loop devices get their nodes in the container's own /dev", S.makeLoopNodes(), [
        'again after `losetup -f`, which may add a device',
      ]);
    if (binder)
      step(`the loop device ${binder.name} bound to the image`, S.findBoundLoop(disk.image!), [
        `prints ${LOOP}; bound here as on ${binder.name} when this host does not see it`,
      ]);
    else {
      step('a loop device already bound to the image', S.findBoundLoop(disk.image!), ['reused when there: the next two are then skipped']);
      step('else the first free loop device', S.findFreeLoop(), [`prints ${LOOP}`]);
      step('bind it to the image', S.bindLoop(LOOP, disk));
    }
  }
  step(`name it ${link}`, S.makeLink(device, link), [`skipped when ${link} already points to ${device}; stops when it points elsewhere`]);
  step('check', { argv: ['test', '-b', link], as: 'root' });
  return out;
}

function storageDaemonLines(spec: ClusterSpec, profile: Profile, node: NodeSpec, disk: Disk): string[] {
  const { ops, check } = profile.storageDaemon(spec, node, disk);
  return [
    `${where(node)}: (first puts ${S.diskLink(disk)} back as above if it is gone)`,
    ...ops.flatMap((o) => opLines(o, node)),
    ...checkLines(check, node),
  ];
}

function buildLines(spec: ClusterSpec, profile: Profile, node: NodeSpec): string[] {
  const guard =
    node.role === 'standby'
      ? 'skipped when the node already serves'
      : `skipped when the node already serves; stops (ForeignDataDir) when ${node.localDir} is not empty and has no ${MARKER_FILE}`;
  return [`${where(node)}: build (${guard})`, ...profile.buildNode(spec, node).flatMap((o) => opLines(o, node))];
}

function startLines(spec: ClusterSpec, profile: Profile, node: NodeSpec): string[] {
  const inRecovery = node.role !== 'primary';
  return [
    `${where(node)}: start (skipped when it already answers as itself)`,
    ...opLines(profile.startNode(spec, node), node),
    `  - wait until ${node.address}:${node.port} answers with config_file ${profile.configFile(spec, node)} and pg_is_in_recovery() = ${inRecovery}`,
  ];
}

function streamingLines(spec: ClusterSpec, s: Step): string[] {
  const primary = primaryOf(spec);
  const node = nodeNamed(spec, s.node!);
  return [
    `${where(node)}: wait until it streams (on ${primary.name}, up to ${s.waitsUpToSeconds} s)`,
    `    ${withParam(STREAMING_SQL, node.slot!)}`,
    `      (until a row has state = streaming)`,
  ];
}

/** A node's step as the plan shows it (the storage, binaries, build, start and streaming steps). */
function nodeStepLines(spec: ClusterSpec, profile: Profile, s: Step, binder?: NodeSpec): string[] {
  const node = nodeNamed(spec, s.node!);
  const disk = s.disk === 'own' ? node.storage! : spec.storage;
  switch (s.name) {
    case 'attachStorage':
      return attachLines(node, disk, binder);
    case 'startStorageDaemon':
      return storageDaemonLines(spec, profile, node, disk);
    case 'buildNode':
      return buildLines(spec, profile, node);
    case 'startNode':
      return startLines(spec, profile, node);
    case 'waitStreaming':
      return streamingLines(spec, s);
    default:
      throw new Error(`the plan renders no ${s.name} step on a node`);
  }
}

export function renderPlan(spec: ClusterSpec, profile: Profile): string {
  const primary = primaryOf(spec);
  const shared = sharedNodes(spec);
  const out: string[] = [
    `# Recovery plan for cluster ${spec.cluster} (profile ${profile.name})`,
    '# Every step is idempotent: an action runs only when its effect is missing ("skipped when").',
    '# root$ runs as root (through sudo when the login user is not root); <user>$ as the database OS user.',
  ];
  let n = 0;
  const section = (title: string, ...blocks: string[][]) => out.push('', `## ${++n}. ${title}`, ...blocks.flat());
  const onNodes = (steps: Step[], binder?: (s: Step) => NodeSpec | undefined) =>
    steps.map((s) => nodeStepLines(spec, profile, s, binder?.(s)));

  // The declared recovery (lib/model/steps.ts), section by section in its order.
  const runbook = recoverySteps(spec);
  const sections: Record<string, (steps: Step[]) => void> = {
    check: () =>
      section('no other runbook acts on the cluster', [
        `  - failover/${spec.cluster} is not running (a second recovery is refused by its workflow id, recover/${spec.cluster})`,
      ]),
    fence: () =>
      section(
        'fence: prove no old node still writes to the shared storage',
        ...shared.map((node) => [
          `${where(node)}:`,
          `  - it answers as this node (config_file ${profile.configFile(spec, node)}; a non-primary must be in recovery)`,
          ...(spec.fencing.agent
            ? [`  - else the fencing agent confirms it is off (exit 0): ${words(agentArgv(spec, node, profile.postmasterDir(spec, node)))}`]
            : [
                `  - else nothing answers on ${node.address}:${node.port}`,
                `    and no process runs in ${profile.postmasterDir(spec, node)} (the cwd of every process in /proc)${node.host.transport === 'docker' ? '; or its container is gone or stopped' : ''}`,
              ]),
        ]),
        [
          `What cannot be proven: ${spec.fencing.onUnprovable === 'approve' ? "wait for an operator's approve" : 'stop the recovery (SplitBrainRisk)'}.`,
        ],
      ),
    provision: (steps) => {
      if (!steps.length) return;
      section(
        'provision: the hosts whose containers are gone (after the fence: never beside an old node that may run)',
        ...steps.map((s) => {
          const node = nodeNamed(spec, s.node!);
          const h = node.host as Extract<NodeSpec['host'], { transport: 'docker' }>;
          return [
            `${where(node)}:`,
            `  - the container ${h.container}: reused when it runs ${h.provision!.image}, started when stopped; another image under its name stops the run (HostConflict), never replaced`,
            `    worker$ ${words(dockerInspectArgv(h.container))}`,
            `  - else created`,
            `    worker$ ${words(dockerRunArgv(h.container, h.provision!))}`,
            `  - check: worker$ ${words(['docker', 'exec', h.container, 'true'])}`,
          ];
        }),
      );
    },
    preflight: () => {
      const disks = [
        { field: 'storage', node: primary, disk: spec.storage },
        ...spec.nodes.flatMap((n) => (n.storage ? [{ field: `nodes.${n.name}.storage`, node: n, disk: n.storage }] : [])),
      ];
      section(
        'preflight: read-only checks before anything is touched (a cause no retry can fix stops here)',
        ...disks.map(({ field, node, disk }) => [
          `on ${node.name}, ${field}:`,
          disk.image
            ? `  - ${disk.image} is a regular file (StorageMissing), not the same file as another disk (WrongCluster), can be written (opened to append nothing: StorageReadOnly), and when sparse its filesystem has 64 MiB free (StorageFull)`
            : `  - ${disk.device} is a block device (StorageMissing), not the same device as another disk (WrongCluster), not read-only (StorageReadOnly)`,
        ]),
        ...spec.nodes
          .filter((n) => n.role !== 'standby')
          .map((n) => [`on ${n.name}: ${n.localDir} is absent, empty or built by polar-runbook (ForeignDataDir)`]),
      );
    },
    attach: (steps) =>
      section(
        `attach the shared disk ${spec.storage.diskName} (${primary.name} first; the others then find the device bound)`,
        ...onNodes(steps, (s) => (s.node === primary.name ? undefined : primary)),
      ),
    daemon: (steps) => section('start the storage daemon (on each host in parallel)', ...onNodes(steps)),
    binaries: (steps) =>
      section(
        'binaries (on each host in parallel)',
        // A node's config templates (prepareTemplates, when a step of their own) are listed with its binaries.
        ...steps
          .filter((s) => s.name === 'prepareBinaries')
          .map((s) => {
            const node = nodeNamed(spec, s.node!);
            const { ops, check, then } = profile.binaries(spec, node);
            return [
              `${where(node)}:`,
              ...ops.flatMap((o) => opLines(o, node)),
              ...checkLines(check, node),
              ...(then ?? []).flatMap((o) => opLines(o, node)),
            ];
          }),
      ),
    primary: (steps) => section(`the primary ${primary.name}`, ...onNodes(steps)),
    slots: () => {
      const expected = spec.slots.expected ?? [];
      section('replication slots (they live on shared storage and survive the hosts)', [
        `on ${primary.name}:`,
        `    ${SLOTS_SQL}`,
        `  - expected: ${expected.join(', ') || 'none'}; each must be physical with its WAL kept (wal_status <> lost)`,
        `  - a missing slot: ${
          { fail: 'stop the recovery (SlotMissing)', approve: "wait for an operator's approve, then create it", create: 'create it' }[
            spec.slots.onMissing
          ]
        } (${withParam(CREATE_SLOT_SQL, '<slot>')})`,
      ]);
    },
    standbys: (steps) => section('standbys (in parallel with the replicas)', ...onNodes(steps)),
    replicas: (steps) => section('replicas (each in its own child workflow, in parallel)', ...onNodes(steps)),
    verify: () => {
      const tables = spec.verify.tables;
      section('verify', [
        `on ${primary.name}:`,
        ...(tables.length
          ? [`  - the tables ${tables.join(', ')} are there:`, `    ${withParam(TABLES_SQL, `{${tables.join(',')}}`)}`]
          : []),
        ...(spec.verify.fingerprintFile ? [`  - row counts and checksums equal those recorded in ${spec.verify.fingerprintFile}`] : []),
        `  - write a probe row: ${withParam(PROBE_INSERT_SQL, '<workflow id>@<run id>')}`,
        ...spec.nodes
          .filter((node) => node.role !== 'primary')
          .map((node) => `on ${node.name}: the probe row is visible within ${spec.verify.probeTimeoutSeconds} s`),
      ]);
    },
  };
  for (const name of runbook.sections) sections[name]?.(stepsIn(runbook, name));
  return out.join('\n') + '\n';
}

/**
 * The failover to the standby as a reviewable runbook (failoverToStandby's steps, in its order):
 * the fence of the old nodes and disk, the standby's position, the promote, the new slots, the
 * read-only nodes rebuilt on the standby's disk, the checks. Pure, like renderPlan.
 */
export function renderFailoverPlan(spec: ClusterSpec, profile: Profile): string {
  const standby = failoverStandby(spec);
  const after = specAfterFailover(spec);
  const newPrimary = primaryOf(after);
  const replicas = nodesOf(after, 'replica');
  const onShared = new Set(sharedNodes(spec).map((n) => n.name));
  const inUse = profile.storageInUse(spec.storage);
  const oldControl = profile.oldPrimaryControl(spec);
  const out: string[] = [
    `# Failover plan for cluster ${spec.cluster} (profile ${profile.name}): the shared disk ${spec.storage.diskName} is lost;`,
    `# the standby ${standby.name} is promoted and its disk ${after.storage.diskName} becomes the shared disk.`,
    '# Every step is idempotent: an action runs only when its effect is missing ("skipped when").',
    '# root$ runs as root (through sudo when the login user is not root); <user>$ as the database OS user.',
  ];
  let n = 0;
  const section = (title: string, ...blocks: string[][]) => out.push('', `## ${++n}. ${title}`, ...blocks.flat());
  // The declared failover (lib/model/steps.ts), section by section in its order.
  const runbook = failoverSteps(spec, after);
  const sections: Record<string, (steps: Step[]) => void> = {};

  sections.check = () =>
    section('no other runbook acts on the cluster', [
      `  - recover/${spec.cluster} is not running; no failover of ${spec.cluster} runs under another workflow id`,
      '  (checked again right before the promote)',
    ]);

  const disk = spec.storage;
  sections.fence = () =>
    section(
      `fence: prove no old node runs and the old shared disk ${disk.diskName} is out of use`,
      ...oldNodes(spec).map((node) => [
        `${where(node)}:`,
        ...(spec.fencing.agent
          ? [`  - the fencing agent confirms it is off (exit 0): ${words(agentArgv(spec, node, profile.postmasterDir(spec, node)))}`]
          : [
              `  - nothing answers on ${node.address}:${node.port} (a read-only node of the new topology on that address is accepted)`,
              `  - no postgres process runs in ${profile.postmasterDir(spec, node)} (the cwd of every process in /proc)`,
              ...(onShared.has(node.name)
                ? [
                    ...(inUse ? cmdLines(inUse.probe, node, [inUse.expect]) : []),
                    ...(disk.image
                      ? cmdLines(S.findBoundLoop(disk.image), node, ['must list no loop device (or the image is gone)'])
                      : [`    (${disk.device} is a block device: its use is judged by the storage daemon and mounts)`]),
                  ]
                : []),
            ]),
      ]),
      [
        `What cannot be proven: ${spec.fencing.onUnprovable === 'approve' ? "wait for an operator's approve" : 'stop the failover (SplitBrainRisk)'}. Nothing is promoted before.`,
      ],
    );

  const f = spec.failover!;
  sections.position = () =>
    section(`record the standby's position (the data-loss window)`, [
      `on ${standby.name}:`,
      `    ${STANDBY_POSITION_SQL}`,
      ...(oldControl
        ? [`on ${primaryOf(spec).name} (the old primary's last LSN, where it can still be read):`, ...cmdLines(oldControl, primaryOf(spec))]
        : [`  - the old primary's WAL and pg_control are on the lost disk ${disk.diskName}: its last LSN is not readable`]),
      `  - lag beyond ${f.maxLagBytes} bytes or ${f.maxLagSeconds} s: wait for an operator's approve, with the figures`,
      '  - the fingerprint of the verified tables on the standby: every row of it must be there after the promote',
    ]);

  const dataDir = profile.postmasterDir(spec, standby);
  sections.promote = () =>
    section(`promote ${standby.name} (once)`, [
      `${where(standby)}:`,
      '  - skipped when pg_is_in_recovery() is already false (a second promote is never sent)',
      ...opLines(promoteOp(spec, standby, dataDir), standby),
      '  - wait until pg_is_in_recovery() is false (promote writes a new WAL segment: minutes on PolarDB)',
      `    ${TIMELINE_SQL}`,
      '      (the timeline is the first 8 hex digits of the WAL file name)',
    ]);

  sections.slots = () =>
    section(`replication slots on ${newPrimary.name} for the new read-only nodes`, [
      `on ${newPrimary.name}:`,
      ...replicas.map((r) => `    ${withParam(CREATE_SLOT_SQL, r.slot!)}`),
      '      (each skipped when the slot is there)',
    ]);

  sections.replicas = (steps) =>
    section(
      `the read-only nodes on ${after.storage.diskName} (each in its own child workflow, in parallel)`,
      ...steps.map((s) => {
        if (s.name !== 'prepareBinaries') return nodeStepLines(after, profile, s);
        const node = nodeNamed(after, s.node!);
        const { ops, check } = profile.binaries(after, node);
        return [`${where(node)}: binaries`, ...ops.flatMap((o) => opLines(o, node)), ...checkLines(check, node)];
      }),
    );

  sections.verify = () =>
    section('verify', [
      `on ${newPrimary.name}:`,
      `  - the verified tables equal the standby's fingerprint from before the promote (more rows: a warning)`,
      ...replicas.map((r) => `    ${withParam(STREAMING_SQL, r.slot!)}`),
      `  - write a probe row: ${withParam(PROBE_INSERT_SQL, '<workflow id>@<run id>')}`,
      ...replicas.map((r) => `on ${r.name}: the probe row is visible within ${spec.verify.probeTimeoutSeconds} s`),
    ]);

  sections.spec = () =>
    section('the cluster as it now is', [
      `  - write its spec to <POLAR_FAILOVER_DIR>/${spec.cluster}.after-failover.<run id>.yaml on the worker: register it`,
      `    primary ${newPrimary.name} on ${after.storage.diskName} (${after.storage.image ?? after.storage.device}, data ${after.storage.dataDir}); read-only: ${replicas.map((r) => r.name).join(', ') || 'none'}`,
    ]);
  for (const name of runbook.sections) sections[name]?.(stepsIn(runbook, name));
  return out.join('\n') + '\n';
}
