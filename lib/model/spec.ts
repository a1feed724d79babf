// The ClusterSpec: what a cluster looks like and how to reach its hosts. Pure (no Node APIs)
// because workflows import it too. Every string that ends up in a command is constrained here,
// so a spec can never smuggle shell syntax or a path traversal into a host.
import { z } from 'zod';
import { modelOf, PROFILE_MODELS } from './profiles/index.js';
import { PROFILE_NAMES, promotedStandby, type Issue, type ProfileModel, type ProfileName } from './profiles/model.js';
import { SpecError } from './spec-error.js';

export { SpecError };

/** A path already in its normal form: no `.` or `..` segment, no `//` (a trailing `/` is kept apart). */
const isNormal = (p: string): boolean =>
  !p
    .replace(/\/$/, '')
    .split('/')
    .slice(1)
    .some((seg) => seg === '' || seg === '.' || seg === '..');

/** A cluster's name: it becomes part of workflow ids, schedule ids and sandbox names (the webhook and the schedules check it too). */
export const CLUSTER_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

// The schemas are built on first use, then kept. A worker evaluates the workflow modules again for
// every workflow it starts, and building these was most of it: about 15 ms of every workflow's
// first task, a replica's child (which parses no spec) included. The SDK's preloadModules would
// build them once per worker, but it freezes what it preloads, and zod writes into its schemas
// and its global config as they are used.
function baseSchemas() {
  /** Absolute, normalised path made of plain characters only: what it says is where it leads. */
  const absPath = z
    .string()
    .regex(/^\/[A-Za-z0-9_.+@:=,/-]*$/, 'must be an absolute path of letters, digits and _ . + @ : = , / - only')
    .refine(
      (p) => p === '/' || (isNormal(p) && !p.endsWith('/')),
      'must be a normalised path: no "." or ".." segments, no "//", no trailing "/"',
    );

  /** A plain file name (a script in a known directory, a command found on PATH): never a path, never an option. */
  const fileName = z
    .string()
    .regex(/^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}$/, 'must be a plain file name (letters, digits, _ . + -), not a path or an option');

  /** A name that becomes part of a device path, a slot, a workflow id: no separators, no shell syntax. */
  const plainName = (what: string, re = CLUSTER_NAME) => z.string().regex(re, `${what} must match ${re.source}`);

  /** One word of a snapshot command: plain characters and the {image} {target} {disk} placeholders. */
  const commandWord = (placeholders: string[]) =>
    z
      .string()
      .regex(/^[A-Za-z0-9_./{}=:,@+%-]+$/, 'must be plain characters (letters, digits, _ . / { } = : , @ + % -)')
      .refine(
        (w) => [...w.matchAll(/\{([^}]*)\}/g)].every((m) => placeholders.includes(m[1]!)),
        `the only placeholders are ${placeholders.map((p) => `{${p}}`).join(', ')}`,
      )
      .refine(
        (w) => !w.includes('/') || isNormal(w.slice(w.indexOf('/'))),
        'a path in it must be normalised: no "." or ".." segments, no "//"',
      );
  const snapshotArg = commandWord(['image', 'target', 'disk']);

  /** A command the spec gives whole (argv): its program an absolute path, its words plain. */
  const commandArgv = (word: z.ZodType<string>) =>
    z
      .array(word)
      .min(1)
      .refine((argv) => argv[0]!.startsWith('/') && !argv[0]!.includes('{'), {
        message: 'the command must be an absolute path',
        path: [0],
      });

  const clusterName = plainName('cluster name');
  const diskName = plainName('disk name', /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/);
  const slotName = plainName('slot name', /^[a-z0-9_]{1,63}$/);
  const hostName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$/, 'must be a host name or IP address');
  const cidr = z.string().regex(/^[0-9a-fA-F.:]+\/[0-9]{1,3}$/, 'must be a CIDR network such as 172.17.0.0/16');
  const osUser = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a plain OS user name');
  const port = z.number().int().min(1).max(65535);

  /** A word passed to `docker run` as one argument: no leading dash (never read as an option). */
  const dockerWord = (what: string) => z.string().regex(/^[A-Za-z0-9_./:=@+,][A-Za-z0-9_./:=@+,-]{0,254}$/, `must be a plain ${what}`);
  const ipv4 = z.string().regex(/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/, 'must be an IPv4 address');

  /**
   * `docker run -d` of a docker node's container: its image, network and address, volumes
   * (`/host/path:/container/path[:ro]`), added capabilities, devices and device cgroup rules, and
   * security options (e.g. `seccomp=unconfined`). The seed's: SYS_ADMIN and MKNOD, /dev/loop-control
   * and `b 7:* rmw` (loop devices), the images volume at /data.
   */
  const DockerProvision = z
    .object({
      image: dockerWord('image name'),
      network: dockerWord('network name').optional(),
      ip: ipv4.optional(),
      volumes: z
        .array(z.string().regex(/^\/[A-Za-z0-9_.+@=,/-]*:\/[A-Za-z0-9_.+@=,/-]*(:ro|:rw)?$/, 'must be /host/path:/container/path[:ro|:rw]'))
        .default([]),
      capabilities: z.array(z.string().regex(/^[A-Z_]{2,32}$/, 'must be a capability name such as SYS_ADMIN')).default([]),
      devices: z.array(absPath).default([]),
      deviceCgroupRules: z
        .array(z.string().regex(/^[abc] (\d+|\*):(\d+|\*) [rwm]{1,3}$/, "must be a rule such as 'b 7:* rmw'"))
        .default([]),
      securityOpts: z.array(dockerWord('security option')).default([]),
    })
    .strict()
    .refine((p) => p.ip === undefined || p.network !== undefined, { message: 'an ip needs its network', path: ['ip'] });

  const HostTransport = z.discriminatedUnion('transport', [
    z.object({ transport: z.literal('local') }).strict(),
    z
      .object({
        transport: z.literal('ssh'),
        address: hostName,
        port: port.default(22),
        user: osUser.default('root'),
        identityFile: absPath.optional(),
        knownHostsFile: absPath.optional(),
        connectTimeoutSeconds: z.number().int().min(1).max(300).default(10),
      })
      .strict(),
    z
      .object({
        transport: z.literal('docker'),
        container: plainName('container', /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/),
        /** How to create the container when it is gone (seed steps 1-2); without it, a missing container stops the run. */
        provision: DockerProvision.optional(),
      })
      .strict(),
  ]);

  /** A disk: an image file attached through a loop device, or a block device (a SAN LUN) used as is. */
  const Disk = z
    .object({
      image: absPath.optional(),
      device: absPath.optional(),
      diskName,
      directIo: z.boolean().default(true),
      /** postgres profile: where the filesystem on the disk is mounted. */
      mountPoint: absPath.optional(),
      /** The data directory on this disk (a PFS path for polardb, a path below mountPoint for postgres). */
      dataDir: absPath.optional(),
    })
    .strict()
    .refine((d) => (d.image === undefined) !== (d.device === undefined), 'give exactly one of image or device');

  const copyMethod = z.enum(['fsfreeze', 'pfsd-freeze', 'snapshot-command']);

  const NodeSpec = z
    .object({
      name: plainName('node name'),
      role: z.enum(['primary', 'replica', 'standby']),
      host: HostTransport,
      /** Where the database listens, as seen by the worker and by the other nodes. */
      address: hostName,
      port: port.default(5432),
      osUser: osUser.default('postgres'),
      /** Compute-local directory: configuration, logs, local files. Lost with the host. */
      localDir: absPath,
      hostId: z.number().int().min(1).max(1024).optional(),
      slot: slotName.optional(),
      /** A standby's own disk (it is a separate copy, not on the shared storage). */
      storage: Disk.optional(),
    })
    .strict();

  /** The fields every profile's spec has; each profile's schema narrows `profile` to its name. */
  const SpecObject = z
    .object({
      cluster: clusterName,
      profile: z.enum(PROFILE_NAMES),
      storage: Disk,
      storageDaemon: z
        .object({
          workers: z.number().int().min(1).max(64).default(1),
          startScript: absPath.default('/usr/local/polarstore/pfsd/bin/start_pfsd.sh'),
          /** The pfs tool: a command on the host's PATH, or an absolute path. */
          pfs: z.union([fileName, absPath]).default('pfs'),
          storageClusterName: plainName('storage cluster name').default('disk'),
        })
        .strict()
        .default({ workers: 1, startScript: '/usr/local/polarstore/pfsd/bin/start_pfsd.sh', pfs: 'pfs', storageClusterName: 'disk' }),
      binaries: z
        .object({
          /** Where the binaries live on each host (bin/ below it). */
          dir: absPath,
          /**
           * Copy or link them from `source` first (a share every host has once it is up, as the seed's
           * /data volume; never a cluster disk: they are prepared before it is mounted); `installed`
           * means they are already there.
           */
          install: z.enum(['copy', 'symlink', 'installed']).default('installed'),
          source: absPath.optional(),
          /** postgres profile: where the *.conf.sample templates are (Debian: /usr/share/postgresql/15). */
          shareDir: absPath.optional(),
          /**
           * polardb profile: where each host keeps the config templates of a throwaway initdb, made
           * once per binaries version (keyed and checked by `initdb --version` and initdb's checksum).
           */
          templateCache: absPath.default('/var/cache/polar-runbook/templates'),
          initScript: z
            .object({
              /** A file in the binaries' bin/ dir. */
              name: fileName,
              /** Plain words, or paths below {localDir} / {dataDir} or absolute ones; never options. */
              args: z.array(
                z
                  .string()
                  .regex(/^[A-Za-z0-9_./{}-]+$/, 'must be plain characters (letters, digits, _ . / { } -)')
                  .refine((w) => !w.startsWith('-'), 'must not start with "-": it would pass for an option')
                  .refine(
                    (w) => /^(\{localDir\}|\{dataDir\})?(\/[^{}]*)?$/.test(w) || /^[A-Za-z0-9_]+$/.test(w),
                    'must be a plain word, or a path that starts with {localDir}, {dataDir} or /',
                  )
                  .refine(
                    (w) => !w.includes('/') || isNormal(w.slice(w.indexOf('/'))),
                    'a path must be normalised: no "." or ".." segments, no "//"',
                  ),
              ),
            })
            .strict()
            .default({ name: 'polar-initdb.sh', args: ['{localDir}/', '{dataDir}/', 'replica'] }),
        })
        .strict(),
      replication: z.object({ network: cidr, user: osUser.default('postgres') }).strict(),
      connection: z
        .object({
          user: osUser.default('postgres'),
          database: plainName('database', /^[A-Za-z_][A-Za-z0-9_]{0,62}$/).default('postgres'),
          /** Secrets are referenced, never inlined: they must not reach workflow histories. */
          passwordFile: absPath.optional(),
          passwordEnv: z
            .string()
            .regex(/^[A-Z_][A-Z0-9_]*$/)
            .optional(),
        })
        .strict()
        .default({ user: 'postgres', database: 'postgres' }),
      nodes: z.array(NodeSpec).min(1),
      slots: z
        .object({
          expected: z.array(slotName).optional(),
          onMissing: z.enum(['fail', 'approve', 'create']).default('fail'),
        })
        .strict()
        .default({ onMissing: 'fail' }),
      fencing: z
        .object({
          onUnprovable: z.enum(['approve', 'fail']).default('approve'),
          /**
           * A fencing agent (STONITH): run on the worker for every old node before the primary
           * starts (a power-off tool, a cloud CLI stopping the old instance). Exit 0 is proof the
           * node is off; anything else stops the recovery. Placeholders: {node} {address} {port}
           * {localDir} {dataDir} (the directory the node's postmaster runs in).
           */
          agent: z
            .object({
              command: commandArgv(commandWord(['node', 'address', 'port', 'localDir', 'dataDir'])),
              timeoutSeconds: z.number().int().min(1).max(3600).default(60),
            })
            .strict()
            .optional(),
        })
        .strict()
        .default({ onUnprovable: 'approve' }),
      /** How long an approval gate waits for an operator, and how often it reminds them. */
      approval: z
        .object({
          timeoutSeconds: z
            .number()
            .int()
            .min(10)
            .max(7 * 24 * 3600)
            .default(4 * 3600),
          remindEverySeconds: z
            .number()
            .int()
            .min(10)
            .max(24 * 3600)
            .default(15 * 60),
        })
        .strict()
        .default({ timeoutSeconds: 4 * 3600, remindEverySeconds: 15 * 60 }),
      verify: z
        .object({
          tables: z.array(plainName('table', /^[A-Za-z_][A-Za-z0-9_]{0,62}$/)).default([]),
          fingerprintFile: absPath.optional(),
          probeTimeoutSeconds: z.number().int().min(1).max(3600).default(30),
          /**
           * amcheck on the verified tables (verify_heapam, bt_index_check of their btree indexes):
           * `auto` runs it where the extension exists (a drill's sandbox creates it; a production
           * database is never given an extension), `off` never.
           */
          amcheck: z.enum(['auto', 'off']).default('auto'),
          /** The time limit of each amcheck statement. */
          amcheckTimeoutSeconds: z.number().int().min(1).max(86400).default(300),
          /**
           * SQL that must hold on the recovered primary: one row whose first column is true (more
           * columns are shown as the numbers when it is not). Run read-only, with a time limit.
           */
          invariants: z
            .array(
              z
                .object({
                  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 _.:=+-]{0,99}$/, 'must be a short plain name'),
                  sql: z.string().min(1).max(10_000),
                })
                .strict(),
            )
            .default([]),
          /**
           * Set by a drill in its sandbox's spec, never by hand: the row the drill wrote on the
           * production primary before taking the copy, and the LSN after its commit. The copy must
           * hold both, or it is older than the drill or torn.
           */
          drillMarker: z
            .object({ id: z.string().regex(/^[A-Za-z0-9_.:@/-]{1,200}$/), lsn: z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/) })
            .strict()
            .optional(),
        })
        .strict()
        .default({ tables: [], probeTimeoutSeconds: 30, amcheck: 'auto', amcheckTimeoutSeconds: 300, invariants: [] }),
      /**
       * Failover to the standby when the shared storage itself is lost (workflows/failover.ts): the
       * lag a promotion may lose without an operator's approval, and the read-only nodes rebuilt on
       * the standby's disk (the new shared disk) after it is promoted.
       */
      failover: z
        .object({
          /** WAL the standby has not replayed (received, or known written on the old primary) beyond which a person decides. */
          maxLagBytes: z
            .number()
            .int()
            .min(0)
            .default(16 * 1024 * 1024),
          /** Age of the standby's newest replayed transaction, when WAL is known beyond it, beyond which a person decides. */
          maxLagSeconds: z.number().int().min(0).default(60),
          /** The standby to promote (default: the only one). */
          standby: plainName('node name').optional(),
          /** The read-only nodes of the new topology: streaming from the promoted standby through their own slots. */
          replicasAfter: z.array(NodeSpec.omit({ role: true, storage: true })).default([]),
        })
        .strict()
        .optional(),
      /** DR drills: how to take a copy of the storage, where the sandbox lives (workflows/drill.ts). */
      drill: z
        .object({
          /**
           * argv that writes a copy of one disk to {target} (an image file, or a link to a block
           * device): placeholders {image} (the disk's image or device), {target}, {disk} (its name).
           * Needed for block devices and for the polardb profile; otherwise the image is copied
           * under fsfreeze.
           */
          snapshotCommand: commandArgv(snapshotArg).optional(),
          /**
           * How the copy is taken (README, "DR drills"): `fsfreeze` (postgres profile, image files:
           * the mounts frozen for the copy), `pfsd-freeze` (polardb on image files: every pfsdaemon
           * serving the disks SIGSTOPped for the copy), `snapshot-command` (snapshotCommand, which
           * must take a point-in-time snapshot of all the disks at once). Default: snapshot-command
           * when snapshotCommand is given, else fsfreeze for postgres; polardb must choose.
           */
          copyMethod: copyMethod.optional(),
          sandboxRoot: absPath.refine((p) => p !== '/', 'must not be /').optional(),
          /** The longest the production filesystem may stay frozen while its image is copied. */
          maxFreezeSeconds: z.number().int().min(1).max(3600).default(300),
        })
        .strict()
        .optional(),
    })
    .strict();
  return { DockerProvision, HostTransport, Disk, copyMethod, NodeSpec, SpecObject, clusterName };
}
type BaseSchemas = ReturnType<typeof baseSchemas>;
export type DockerProvision = z.infer<BaseSchemas['DockerProvision']>;
export type HostTransport = z.infer<BaseSchemas['HostTransport']>;
export type Disk = z.infer<BaseSchemas['Disk']>;
export type CopyMethod = z.infer<BaseSchemas['copyMethod']>;
export type NodeSpec = z.infer<BaseSchemas['NodeSpec']>;

/** A spec as every profile's rules see it. */
export type SpecShape = z.infer<BaseSchemas['SpecObject']>;

/** The rules every profile shares: roles, unique names and addresses, slots, the drill and failover sections. */
function sharedRules(spec: SpecShape, issue: Issue): void {
  const primaries = spec.nodes.filter((n) => n.role === 'primary');
  if (primaries.length !== 1) issue(['nodes'], `exactly one node must have role primary (found ${primaries.length})`);
  const seen = (key: (n: NodeSpec) => string | number | undefined, what: string) => {
    const by = new Map<string | number, number>();
    spec.nodes.forEach((n, i) => {
      const k = key(n);
      if (k === undefined) return;
      if (by.has(k)) issue(['nodes', i], `${what} ${JSON.stringify(k)} is already used by node ${spec.nodes[by.get(k)!]!.name}`);
      else by.set(k, i);
    });
  };
  seen((n) => n.name, 'name');
  seen((n) => n.slot, 'slot');
  seen((n) => n.hostId, 'hostId');
  seen((n) => `${n.address}:${n.port}`, 'address:port');
  spec.nodes.forEach((n, i) => {
    if (n.role !== 'primary' && !n.slot) issue(['nodes', i, 'slot'], `a ${n.role} needs the replication slot it streams through`);
    if (n.role === 'primary' && n.slot) issue(['nodes', i, 'slot'], 'the primary streams from no slot');
    if (n.role !== 'standby' && n.storage) issue(['nodes', i, 'storage'], 'only a standby has a disk of its own');
    if (n.role === 'standby' && !n.storage) issue(['nodes', i, 'storage'], 'a standby needs its own disk (image or device)');
    if (n.storage && n.storage.diskName === spec.storage.diskName)
      issue(['nodes', i, 'storage', 'diskName'], 'a standby disk needs a name of its own');
  });
  if (!spec.storage.dataDir) issue(['storage', 'dataDir'], 'give the data directory on the shared disk');
  // `primary` mode initialises a new cluster into the shared storage: never in a recovery.
  if (spec.binaries.initScript.args.includes('primary'))
    issue(['binaries', 'initScript', 'args'], 'the init script must never run in primary mode (it initialises a new cluster); use replica');
  const method = spec.drill?.copyMethod;
  if (method === 'snapshot-command' && !spec.drill?.snapshotCommand)
    issue(['drill', 'snapshotCommand'], 'copyMethod snapshot-command needs the snapshotCommand');
  if (method && method !== 'snapshot-command' && spec.drill?.snapshotCommand)
    issue(['drill', 'copyMethod'], `copyMethod ${method} copies the images itself: leave out snapshotCommand, or choose snapshot-command`);
  if (spec.drill?.snapshotCommand && !spec.drill.snapshotCommand.some((w) => w.includes('{target}')))
    issue(['drill', 'snapshotCommand'], 'the command must name where the copy goes: {target}');
  if (spec.failover) {
    const f = spec.failover;
    const standbys = spec.nodes.filter((n) => n.role === 'standby');
    const standby = promotedStandby(spec);
    if (!standby)
      issue(
        ['failover', 'standby'],
        f.standby
          ? `${f.standby} is not a standby of this cluster (standbys: ${standbys.map((n) => n.name).join(', ') || 'none'})`
          : `name the standby to promote (standbys: ${standbys.map((n) => n.name).join(', ') || 'none'})`,
      );
    const taken = new Map<string, string>();
    if (standby)
      for (const k of [standby.name, `${standby.address}:${standby.port}`, `${JSON.stringify(standby.host)} ${standby.localDir}`])
        taken.set(k, standby.name);
    f.replicasAfter.forEach((r, i) => {
      const at = ['failover', 'replicasAfter', i];
      if (!r.slot) issue([...at, 'slot'], 'a read-only node after the failover needs the slot it streams through');
      if (standby && r.hostId !== undefined && r.hostId === standby.hostId)
        issue([...at, 'hostId'], `polar_hostid ${r.hostId} is the promoted standby's: PFS refuses a second mount with the same hostid`);
      for (const k of [
        r.name,
        `${r.address}:${r.port}`,
        `${JSON.stringify(r.host)} ${r.localDir}`,
        ...(r.slot ? [`slot ${r.slot}`] : []),
        ...(r.hostId !== undefined ? [`hostId ${r.hostId}`] : []),
      ]) {
        if (taken.has(k)) issue(at, `${k} is already used by ${taken.get(k)} in the topology after the failover`);
        else taken.set(k, r.name);
      }
    });
  }
  if (spec.binaries.install !== 'installed' && !spec.binaries.source)
    issue(['binaries', 'source'], `install: ${spec.binaries.install} needs the source directory they are copied or linked from`);
}

function allSchemas() {
  const base = baseSchemas();
  /** A profile's spec: the shared fields and rules, then the profile's own rules. */
  const profileSpec = <N extends ProfileName>(model: ProfileModel<N>) =>
    base.SpecObject.extend({ profile: z.literal(model.name) }).superRefine((spec, ctx) => {
      const issue: Issue = (path, message) => ctx.addIssue({ code: 'custom', path, message });
      sharedRules(spec, issue);
      model.specRules(spec, issue);
    });
  /** The spec of a cluster: one schema per profile, told apart by `profile`. */
  const ClusterSpec = z.discriminatedUnion('profile', [profileSpec(PROFILE_MODELS.polardb), profileSpec(PROFILE_MODELS.postgres)], {
    error: (iss) => (iss.code === 'invalid_union' ? `must be one of the profiles ${PROFILE_NAMES.join(', ')}` : undefined),
  });
  return { ...base, ClusterSpec };
}
let schemas: ReturnType<typeof allSchemas> | undefined;
/** The spec's zod schemas (built on first use). */
export const specSchemas = () => (schemas ??= allSchemas());
type Schemas = ReturnType<typeof specSchemas>;
export type ClusterSpec = z.infer<Schemas['ClusterSpec']>;
export type ClusterSpecInput = z.input<Schemas['ClusterSpec']>;

/** The drill's copy method: the spec's choice, else what its other fields imply (undefined: none fits). */
export function copyMethodOf(spec: ClusterSpec): CopyMethod | undefined {
  if (spec.drill?.copyMethod) return spec.drill.copyMethod;
  if (spec.drill?.snapshotCommand) return 'snapshot-command';
  return modelOf(spec).defaultCopyMethod;
}

/** Validates an already-parsed document; errors name the field and say what is wrong. */
export function parseSpec(doc: unknown): ClusterSpec {
  const r = specSchemas().ClusterSpec.safeParse(doc);
  if (r.success) {
    const spec = r.data;
    // Default: every replica's and standby's slot must be there.
    spec.slots.expected ??= spec.nodes.flatMap((n) => (n.slot ? [n.slot] : []));
    return spec;
  }
  throw new SpecError(r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(spec)'}: ${i.message}`));
}

/** The shared data directory (validated present). */
export const sharedDataDir = (spec: ClusterSpec): string => spec.storage.dataDir!;
export const primaryOf = (spec: ClusterSpec): NodeSpec => spec.nodes.find((n) => n.role === 'primary')!;
export const nodesOf = (spec: ClusterSpec, role: NodeSpec['role']): NodeSpec[] => spec.nodes.filter((n) => n.role === role);
export const nodeNamed = (spec: ClusterSpec, name: string): NodeSpec => {
  const n = spec.nodes.find((x) => x.name === name);
  if (!n) throw new SpecError([`no node named ${name} in cluster ${spec.cluster} (nodes: ${spec.nodes.map((x) => x.name).join(', ')})`]);
  return n;
};
/** Nodes whose data is the shared storage, as the profile says (the standby has its own disk). */
export const sharedNodes = (spec: ClusterSpec): NodeSpec[] => modelOf(spec).sharedNodes(spec);
/** Whether the node's build reads from the primary, as the profile says (see ProfileModel). */
export const buildNeedsPrimary = (spec: ClusterSpec, node: NodeSpec): boolean => modelOf(spec).buildNeedsPrimary(spec, node);
export const buildUsesTemplates = (spec: ClusterSpec, node: NodeSpec): boolean => modelOf(spec).buildUsesTemplates(spec, node);
