// polar-runbook: the command line, in the manner of patronictl and kubectl: every command and
// subcommand answers -h/--help, -o json where there is something to parse, and documented exit codes.
import { writeFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { WorkflowFailedError, WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { ScheduleNotFoundError } from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import { renderFailoverPlan, renderPlan } from '../lib/plan.js';
import { profileOf } from '../lib/profiles/index.js';
import { renderDrillResult, type DrillResult } from '../lib/model/drill.js';
import { renderReport, stepLine, type Progress, type RecoveryReport } from '../lib/model/report.js';
import { SpecError } from '../lib/model/spec.js';
import { abortSignal, approveSignal, progressQuery } from '../workflows/definitions.js';
import { connectClient, UnreachableError } from './connect.js';
import { drillHistoryPath, readDrillHistory, renderDrillHistory } from './drill-history.js';
import { describeFailure, renderFailure, type FailureInfo } from './failure.js';
import { follow, watch } from './follow.js';
import { drillTrendHtml, reportHtml } from './html.js';
import {
  createDrillSchedule,
  deleteDrillSchedule,
  listDrillSchedules,
  pauseDrillSchedule,
  renderSchedules,
  triggerDrillSchedule,
  unpauseDrillSchedule,
} from './schedule.js';
import { readSpecFile } from '../lib/spec-file.js';
import { drillOutcome, startDrill } from './start-drill.js';
import { startOrAttachFailover } from './start-failover.js';
import { startOrAttachRecovery } from './start-recovery.js';
import { teardownKeptSandbox } from './teardown-sandbox.js';

/** Sends an operator's signal (approve, abort) to the workflow named by the one argument. */
async function send<A>(args: string[], name: string, signal: SignalDefinition<[A?]>, arg: A): Promise<number> {
  need(args, 1, '<workflowId>');
  await (await client()).workflow.getHandle(args[0]!).signal(signal, arg);
  out(`${name} sent to ${args[0]}`);
  return EXIT.ok;
}

/** Exit codes (README "The CLI"). */
export const EXIT = { ok: 0, failed: 1, usage: 2, waiting: 3, unreachable: 4 } as const;

const EXIT_HELP = `exit codes: 0 recovered, healthy or done; 1 failed (or aborted); 2 usage error;
            3 waiting for approval; 4 Temporal unreachable (connection error)`;
const TEMPORAL_HELP = `Temporal: TEMPORAL_ADDRESS (default localhost:7233), TEMPORAL_NAMESPACE (default default),
  TEMPORAL_API_KEY, TEMPORAL_TLS / TEMPORAL_TLS_CLIENT_CERT_PATH / _CLIENT_KEY_PATH / _SERVER_CA_CERT_PATH,
  TEMPORAL_PROFILE and TEMPORAL_CONFIG_FILE (a temporal.toml profile)`;

type Values = Record<string, string | boolean | undefined>;
type Options = NonNullable<ParseArgsConfig['options']>;
interface Command {
  usage: string;
  options?: Options;
  run(args: string[], v: Values): Promise<number>;
}

const output: Options = { output: { type: 'string', short: 'o' } };

class UsageError extends Error {}

const json = (v: Values): boolean => {
  if (v.output === undefined || v.output === 'text') return false;
  if (v.output === 'json') return true;
  throw new UsageError(`-o takes json or text, not ${String(v.output)}`);
};
const out = (s: string) => process.stdout.write(`${s}\n`);
/** Progress goes to stderr under -o json, so stdout holds one JSON document. */
const progressPrinter = (asJson: boolean) => (asJson ? (l: string) => process.stderr.write(`${l}\n`) : (l: string) => out(l));

const exitOf = (r: RecoveryReport): number => (r.outcome === 'recovered' || r.outcome === 'already-healthy' ? EXIT.ok : EXIT.failed);

/** The last progress of a workflow, when its worker can still answer (bounded: a dead worker never does). */
async function lastProgress(handle: WorkflowHandle): Promise<Progress | undefined> {
  return Promise.race([
    handle.query(progressQuery).catch(() => undefined),
    new Promise<undefined>((r) => setTimeout(() => r(undefined), 3000).unref()),
  ]);
}

async function failureOf(handle: WorkflowHandle, err: unknown): Promise<FailureInfo> {
  return describeFailure(err, await lastProgress(handle));
}

/** Prints the end of a recovery: its report, or what failed; returns the exit code. */
async function finish(handle: WorkflowHandle, run: Promise<RecoveryReport>, asJson: boolean): Promise<number> {
  try {
    const r = await run;
    out(asJson ? JSON.stringify({ workflowId: handle.workflowId, status: 'COMPLETED', report: r }, null, 2) : renderReport(r));
    return exitOf(r);
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    const f = await failureOf(handle, err);
    out(
      asJson
        ? JSON.stringify({ workflowId: handle.workflowId, status: 'FAILED', failure: f }, null, 2)
        : renderFailure(handle.workflowId, f),
    );
    return EXIT.failed;
  }
}

const specOrCluster = (args: string[], v: Values) => {
  const spec = args[0] ? readSpecFile(args[0]) : undefined;
  const cluster = spec?.cluster ?? (v.cluster as string | undefined);
  if (!cluster) throw new UsageError('give a spec file or --cluster <name>');
  return { spec, cluster };
};

const need = (args: string[], n: number, what: string) => {
  if (args.length < n) throw new UsageError(`missing ${what}`);
  if (args.length > n) throw new UsageError(`unexpected argument ${args[n]}`);
};

let clientP: Promise<Client> | undefined;
const client = () => (clientP ??= connectClient());

const commands: Record<string, Command> = {
  plan: {
    usage: `usage: polar-runbook plan <spec.yaml> [--failover]
  print every command and config block the recovery would run, per host, in order; runs nothing
  --failover          the failover to the standby instead (the shared storage is lost)`,
    options: { failover: { type: 'boolean' } },
    async run(args, v) {
      need(args, 1, '<spec.yaml>');
      const spec = readSpecFile(args[0]!);
      process.stdout.write((v.failover ? renderFailoverPlan : renderPlan)(spec, profileOf(spec)));
      return EXIT.ok;
    },
  },
  failover: {
    usage: `usage: polar-runbook failover <spec.yaml> | --cluster <name> [--approve-first] [-o json]
  the shared storage is lost: fence the old nodes, promote the standby, rebuild the read-only nodes
  on its disk (workflow failover/<cluster>), and follow it live until it ends
  --cluster <name>    a cluster registered with the worker (POLAR_CLUSTERS_DIR)
  --approve-first     wait for an approve signal before touching anything
  -o json             the final report (or the failure) as JSON on stdout; progress on stderr`,
    options: { cluster: { type: 'string' }, 'approve-first': { type: 'boolean' }, ...output },
    async run(args, v) {
      if (args.length > 1) throw new UsageError(`unexpected argument ${args[1]}`);
      const asJson = json(v);
      const { spec, cluster } = specOrCluster(args, v);
      const input = spec ? { spec, trigger: 'cli' as const } : { cluster, trigger: 'cli' as const };
      const { handle, started } = await startOrAttachFailover(await client(), cluster, {
        ...input,
        requireApproval: v['approve-first'] as boolean | undefined,
      });
      const print = progressPrinter(asJson);
      print(`${started ? 'started' : 'attached to the running'} failover ${handle.workflowId}`);
      return finish(handle, follow(handle, print, 250, asJson ? { tty: false } : {}), asJson);
    },
  },
  recover: {
    usage: `usage: polar-runbook recover <spec.yaml> | --cluster <name> [--approve-first] [-o json]
  start (or attach to) the recovery of the cluster and follow it live until it ends
  --cluster <name>    a cluster registered with the worker (POLAR_CLUSTERS_DIR)
  --approve-first     wait for an approve signal before touching anything
  -o json             the final report (or the failure) as JSON on stdout; progress on stderr`,
    options: { cluster: { type: 'string' }, 'approve-first': { type: 'boolean' }, ...output },
    async run(args, v) {
      if (args.length > 1) throw new UsageError(`unexpected argument ${args[1]}`);
      const asJson = json(v);
      const { spec, cluster } = specOrCluster(args, v);
      const input = spec ? { spec, trigger: 'cli' as const } : { cluster, trigger: 'cli' as const };
      const { handle, started } = await startOrAttachRecovery(await client(), cluster, {
        ...input,
        requireApproval: v['approve-first'] as boolean | undefined,
      });
      const print = progressPrinter(asJson);
      print(`${started ? 'started' : 'attached to the running'} recovery ${handle.workflowId}`);
      return finish(handle, follow(handle, print, 250, asJson ? { tty: false } : {}), asJson);
    },
  },
  follow: {
    usage: `usage: polar-runbook follow <workflowId> [-o json]
  live progress until the recovery ends: steps as they start and end, retries as they happen, what
  long steps report (clone bytes, waits); one updating line on a terminal, a line every 3 s otherwise
  -o json             the final report (or the failure) as JSON on stdout; progress on stderr`,
    options: { ...output },
    async run(args, v) {
      need(args, 1, '<workflowId>');
      const asJson = json(v);
      const handle = (await client()).workflow.getHandle(args[0]!);
      await handle.describe();
      return finish(handle, follow(handle, progressPrinter(asJson), 250, asJson ? { tty: false } : {}), asJson);
    },
  },
  status: {
    usage: `usage: polar-runbook status <workflowId> [-o json]
  the progress of a running recovery, or its final report, or what failed
  exit 0 recovered / healthy / running, 1 failed, 3 waiting for approval`,
    options: { ...output },
    async run(args, v) {
      need(args, 1, '<workflowId>');
      const asJson = json(v);
      const id = args[0]!;
      const handle = (await client()).workflow.getHandle(id);
      const d = await handle.describe();
      const status = d.status.name;
      if (status === 'COMPLETED') {
        const r = (await handle.result()) as RecoveryReport;
        out(asJson ? JSON.stringify({ workflowId: id, status, report: r }, null, 2) : `${id}: ${status}\n${renderReport(r)}`);
        return exitOf(r);
      }
      if (status !== 'RUNNING') {
        const f = await handle.result().then(
          () => undefined,
          (err: unknown) => failureOf(handle, err),
        );
        const info = f ?? describeFailure(new Error(`the workflow is ${status}`));
        out(asJson ? JSON.stringify({ workflowId: id, status, failure: info }, null, 2) : renderFailure(id, info));
        return EXIT.failed;
      }
      const p = await lastProgress(handle);
      if (asJson) out(JSON.stringify({ workflowId: id, status, ...(p ? { progress: p } : {}) }, null, 2));
      else {
        out(`${id}: ${status}${p ? `, phase ${p.phase}` : ''}`);
        if (p) {
          out(p.steps.map(stepLine).join('\n'));
          if (p.waitingFor)
            out(`waiting for approval at ${p.waitingFor.gate}:\n  ${p.waitingFor.evidence.join('\n  ')}\n  polar-runbook approve ${id}`);
        } else out('  (no progress: no worker answers its query)');
      }
      return p?.waitingFor ? EXIT.waiting : EXIT.ok;
    },
  },
  report: {
    usage: `usage: polar-runbook report <workflowId> [--html out.html] [-o json]
  the final report of a recovery; --html writes one self-contained page: the timeline of its steps
  (parallel branches side by side, retries marked) and what each verified and ran`,
    options: { html: { type: 'string' }, ...output },
    async run(args, v) {
      need(args, 1, '<workflowId>');
      const asJson = json(v);
      const handle = (await client()).workflow.getHandle(args[0]!);
      let r: RecoveryReport;
      try {
        r = (await handle.result()) as RecoveryReport;
      } catch (err) {
        if (!(err instanceof WorkflowFailedError)) throw err;
        const f = await failureOf(handle, err);
        const p = await lastProgress(handle);
        if (v.html && p) {
          writeFileSync(
            v.html as string,
            reportHtml(
              {
                ...p,
                headline: f.cause,
                warnings: [],
                workflowId: handle.workflowId,
                outcome: p.outcome ?? 'failed',
                endedAt: '',
                rtoMs: 0,
                commandsRun: 0,
              },
              f,
            ),
          );
          process.stderr.write(`wrote ${v.html as string}\n`);
        }
        out(
          asJson
            ? JSON.stringify({ workflowId: handle.workflowId, status: 'FAILED', failure: f }, null, 2)
            : renderFailure(handle.workflowId, f),
        );
        return EXIT.failed;
      }
      if (v.html) {
        writeFileSync(v.html as string, reportHtml(r));
        process.stderr.write(`wrote ${v.html as string}\n`);
      }
      if (asJson) out(JSON.stringify({ workflowId: handle.workflowId, status: 'COMPLETED', report: r }, null, 2));
      else if (!v.html) out(renderReport(r));
      return exitOf(r);
    },
  },
  approve: {
    usage: `usage: polar-runbook approve <workflowId> [--note text]
  pass the gate the recovery waits at (read its evidence first: polar-runbook status <workflowId>)`,
    options: { note: { type: 'string' } },
    run: (args, v) => send(args, 'approve', approveSignal, { by: process.env.USER, note: v.note as string | undefined }),
  },
  abort: {
    usage: `usage: polar-runbook abort <workflowId> [--reason text]
  stop the runbook now: its running steps are cancelled (their commands ended on the hosts); it fails
  with type Aborted, listing what it completed and what it interrupted`,
    options: { reason: { type: 'string' } },
    run: (args, v) => send(args, 'abort', abortSignal, { by: process.env.USER, reason: v.reason as string | undefined }),
  },
  drill: {
    usage: `usage: polar-runbook drill <spec.yaml> | --cluster <name> [--failover] [--keep-sandbox] [-o json]
       polar-runbook drill history [--cluster <name>] [--file f] [--html out.html] [-o json]
       polar-runbook drill teardown <sandbox dir>
  a DR drill: recover a copy of the storage in a sandbox, print the RTO (polar-runbook drill <sub> --help);
  --failover: the second disaster instead, on copies of both disks: the sandbox standby promoted, its read-only nodes rebuilt`,
    options: { cluster: { type: 'string' }, 'keep-sandbox': { type: 'boolean' }, failover: { type: 'boolean' }, ...output },
    async run(args, v) {
      if (args.length > 1) throw new UsageError(`unexpected argument ${args[1]}`);
      const asJson = json(v);
      const { spec, cluster } = specOrCluster(args, v);
      const handle = await startDrill(await client(), cluster, {
        ...(spec ? { spec } : { cluster }),
        trigger: 'cli',
        ...(v['keep-sandbox'] ? { keepSandbox: true } : {}),
        ...(v.failover ? { failover: true } : {}),
      });
      const print = progressPrinter(asJson);
      print(
        v.failover
          ? `drill ${handle.workflowId} running: copy both disks, start the standby on its copy, fail over to it, take it away`
          : `drill ${handle.workflowId} running: copy the storage, recover the copy, take it away`,
      );
      await watch<DrillResult>(handle, print, asJson ? { tty: false } : {}).catch(() => undefined);
      const { result, error } = await drillOutcome(handle);
      if (asJson) out(JSON.stringify({ workflowId: handle.workflowId, result, ...(error ? { error } : {}) }, null, 2));
      else if (result) out(renderDrillResult(result));
      else out(`drill failed: ${error}`);
      return result?.outcome === 'recovered' || result?.outcome === 'failed-over' ? EXIT.ok : EXIT.failed;
    },
  },
  'drill history': {
    usage: `usage: polar-runbook drill history [--cluster <name>] [--file f] [--html out.html] [-o json]
  the drills recorded (POLAR_DRILL_HISTORY, default /var/lib/polar-runbook/drill-history.jsonl), oldest first;
  --html writes a page with the RTO of every drill over time, per cluster`,
    options: { cluster: { type: 'string' }, file: { type: 'string' }, html: { type: 'string' }, ...output },
    async run(args, v) {
      need(args, 0, '');
      const asJson = json(v);
      const list = readDrillHistory((v.file as string | undefined) ?? drillHistoryPath(), v.cluster as string | undefined);
      if (v.html) {
        writeFileSync(v.html as string, drillTrendHtml(list));
        process.stderr.write(`wrote ${v.html as string}\n`);
      }
      if (asJson) out(JSON.stringify(list, null, 2));
      else if (!v.html) out(renderDrillHistory(list));
      return EXIT.ok;
    },
  },
  'drill teardown': {
    usage: `usage: polar-runbook drill teardown <sandbox dir>
  take away a sandbox a drill kept (--keep-sandbox); run as root, where it is`,
    async run(args) {
      need(args, 1, '<sandbox dir>');
      const hosts = await teardownKeptSandbox(args[0]!, { log: (host, command) => out(`${host}: ${command}`) });
      out(
        `sandbox ${args[0]} removed (${hosts.map((h) => `${h.host}: ${h.killed} processes killed, ${h.unmounted.length} unmounted, ${h.detached.length} detached`).join('; ')})`,
      );
      return EXIT.ok;
    },
  },
  schedule: {
    usage: `usage: polar-runbook schedule create|list|pause|unpause|trigger|delete ... (polar-runbook schedule <sub> --help)
  scheduled DR drills: one Temporal schedule per cluster, id drill/<cluster>`,
    async run(args) {
      throw new UsageError(args.length ? `unknown schedule command ${args[0]}` : 'missing the schedule command');
    },
  },
  'schedule create': {
    usage: `usage: polar-runbook schedule create <cluster> [--cron "0 3 * * 1"] [--spec spec.yaml] [--note text] [--keep-sandbox]
  a drill of the cluster on a cron (UTC); without --spec, the worker's registered spec of the cluster
  (the worker must know the cluster: it is asked before the schedule is created)`,
    options: { cron: { type: 'string' }, spec: { type: 'string' }, note: { type: 'string' }, 'keep-sandbox': { type: 'boolean' } },
    async run(args, v) {
      need(args, 1, '<cluster>');
      const h = await createDrillSchedule(await client(), {
        cluster: args[0]!,
        cron: v.cron as string | undefined,
        spec: v.spec ? readSpecFile(v.spec as string) : undefined,
        note: v.note as string | undefined,
        keepSandbox: v['keep-sandbox'] as boolean | undefined,
      });
      const next = (await h.describe()).info.nextActionTimes.slice(0, 3).map((d) => d.toISOString());
      out(`schedule ${h.scheduleId} created, next drills: ${next.join(', ')}`);
      return EXIT.ok;
    },
  },
  'schedule list': {
    usage: `usage: polar-runbook schedule list [-o json]
  every drill schedule, its next times and its last drills`,
    options: { ...output },
    async run(args, v) {
      need(args, 0, '');
      const asJson = json(v);
      const list = await listDrillSchedules(await client());
      out(asJson ? JSON.stringify(list, null, 2) : renderSchedules(list));
      return EXIT.ok;
    },
  },
  'schedule pause': {
    usage: `usage: polar-runbook schedule pause <cluster> [--note text]
  no drills until unpaused (the note says why; without one, the schedule's note is kept)`,
    options: { note: { type: 'string' } },
    async run(args, v) {
      need(args, 1, '<cluster>');
      await pauseDrillSchedule(await client(), args[0]!, v.note as string | undefined);
      out(`schedule drill/${args[0]}: paused`);
      return EXIT.ok;
    },
  },
  'schedule unpause': {
    usage: `usage: polar-runbook schedule unpause <cluster> [--note text]
  drills again (without --note, the schedule's note is kept)`,
    options: { note: { type: 'string' } },
    async run(args, v) {
      need(args, 1, '<cluster>');
      await unpauseDrillSchedule(await client(), args[0]!, v.note as string | undefined);
      out(`schedule drill/${args[0]}: unpaused`);
      return EXIT.ok;
    },
  },
  'schedule trigger': {
    usage: `usage: polar-runbook schedule trigger <cluster>
  a drill now (also when paused); skipped if one of this schedule's drills still runs`,
    async run(args) {
      need(args, 1, '<cluster>');
      await triggerDrillSchedule(await client(), args[0]!);
      out(`schedule drill/${args[0]}: triggered`);
      return EXIT.ok;
    },
  },
  'schedule delete': {
    usage: `usage: polar-runbook schedule delete <cluster>
  remove the schedule (drills it started are left alone); deleting one already gone says so and exits 0`,
    async run(args) {
      need(args, 1, '<cluster>');
      const gone = await deleteDrillSchedule(await client(), args[0]!);
      out(gone ? `schedule drill/${args[0]}: deleted` : `schedule drill/${args[0]}: already gone (nothing to delete)`);
      return EXIT.ok;
    },
  },
};

const top = ['recover', 'plan', 'status', 'follow', 'report', 'approve', 'abort', 'drill', 'schedule'];
const USAGE = `usage: polar-runbook <command> [options]      (polar-runbook <command> --help)
${top.map((c) => `  ${commands[c]!.usage.split('\n')[0]!.replace(/^usage: polar-runbook /, '')}`).join('\n')}
${EXIT_HELP}
${TEMPORAL_HELP}`;

const helpOf = (c: Command) => `${c.usage}\n${EXIT_HELP}\n${TEMPORAL_HELP}`;

async function main(argv: string[]): Promise<number> {
  const help = argv.includes('-h') || argv.includes('--help');
  const first = argv[0];
  if (first === undefined || first === 'help' || first.startsWith('-')) {
    if (first === 'help') {
      const c = commands[argv.slice(1, 3).join(' ')] ?? commands[argv[1] ?? ''];
      out(c ? helpOf(c) : USAGE);
      return EXIT.ok;
    }
    if (first !== undefined && help) {
      out(USAGE);
      return EXIT.ok;
    }
    process.stderr.write(`${first === undefined ? '' : `error: unknown option ${first}\n`}${USAGE}\n`);
    return EXIT.usage;
  }
  const name = commands[`${first} ${argv[1]}`] ? `${first} ${argv[1]}` : first;
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`error: unknown command ${first}\n${USAGE}\n`);
    return EXIT.usage;
  }
  if (help) {
    out(helpOf(cmd));
    return EXIT.ok;
  }
  const rest = argv.slice(name.split(' ').length);
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: rest, allowPositionals: true, strict: true, options: cmd.options ?? {} });
    } catch (err) {
      throw new UsageError((err as Error).message.split('\n')[0]!);
    }
    return await cmd.run(parsed.positionals, parsed.values as Values);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n${cmd.usage}\n`);
      return EXIT.usage;
    }
    if (err instanceof UnreachableError) {
      process.stderr.write(`error: ${err.message}\n`);
      return EXIT.unreachable;
    }
    if (err instanceof WorkflowNotFoundError) {
      process.stderr.write(`error: no workflow ${err.workflowId ?? ''} (${err.message})\n`);
      return EXIT.failed;
    }
    if (err instanceof ScheduleNotFoundError) {
      process.stderr.write(`error: ${err.message}\n`);
      return EXIT.failed;
    }
    process.stderr.write(`${err instanceof SpecError ? err.message : `error: ${(err as Error).message}`}\n`);
    return EXIT.failed;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`error: ${err.message}\n`);
    process.exit(EXIT.failed);
  },
);
