// polar-runbook: the command line. recover | status | follow | approve | abort | plan | drill | schedule
import { parseArgs } from 'node:util';
import { renderFailoverPlan, renderPlan } from '../activities/plan.js';
import { polardbProfile } from '../activities/profiles/polardb.js';
import { postgresProfile } from '../activities/profiles/postgres.js';
import { renderDrillResult } from '../common/drill.js';
import { renderFailure, renderReport, stepLine, type RecoveryReport } from '../common/report.js';
import { SpecError } from '../common/spec.js';
import { abortSignal, approveSignal, progressQuery } from '../workflows/definitions.js';
import { connectClient } from './connect.js';
import { drillHistoryPath, readDrillHistory, renderDrillHistory } from './drill-history.js';
import { follow } from './follow.js';
import {
  createDrillSchedule,
  deleteDrillSchedule,
  listDrillSchedules,
  pauseDrillSchedule,
  renderSchedules,
  triggerDrillSchedule,
  unpauseDrillSchedule,
} from './schedule.js';
import { readSpecFile } from './spec-file.js';
import { drillOutcome, startDrill } from './start-drill.js';
import { startOrAttachFailover } from './start-failover.js';
import { startOrAttachRecovery } from './start-recovery.js';
import { teardownKeptSandbox } from './teardown-sandbox.js';

const USAGE = `usage: polar-runbook <command>
  recover <spec.yaml> | --cluster <name>   start (or attach to) the recovery and follow it live
  plan <spec.yaml> [--failover]             print every command and config block the recovery (or the failover) would run; runs nothing
  failover <spec.yaml> | --cluster <name>   the shared storage is lost: promote the standby (failover/<cluster>) and follow it
  status <workflowId>                       progress or final report
  follow <workflowId>                       live progress until it ends
  approve <workflowId> [--note text]        pass the gate the recovery waits at
  abort <workflowId> [--reason text]        stop at the next safe point
  drill <spec.yaml> | --cluster <name> [--keep-sandbox]
                                            DR drill: recover a copy of the storage in a sandbox, print the RTO
  drill history [--cluster <name>] [--file f]   the drills recorded (POLAR_DRILL_HISTORY)
  drill teardown <sandbox dir>              take away a sandbox a drill kept (--keep-sandbox); as root, where it is
  schedule create <cluster> [--cron "0 3 * * 1"] [--spec spec.yaml] [--note text] [--keep-sandbox]
  schedule list | pause <cluster> [--note text] | unpause <cluster> [--note text] | trigger <cluster> | delete <cluster>
Temporal: TEMPORAL_ADDRESS (default localhost:7233), TEMPORAL_NAMESPACE (default default)`;

const profiles = { postgres: postgresProfile, polardb: polardbProfile };

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      cluster: { type: 'string' },
      note: { type: 'string' },
      reason: { type: 'string' },
      'approve-first': { type: 'boolean' },
      failover: { type: 'boolean' },
      'keep-sandbox': { type: 'boolean' },
      cron: { type: 'string' },
      spec: { type: 'string' },
      file: { type: 'string' },
    },
  });
  const [command, arg, arg2] = positionals;
  switch (command) {
    case 'plan': {
      if (!arg) break;
      const spec = readSpecFile(arg);
      process.stdout.write((values.failover ? renderFailoverPlan : renderPlan)(spec, profiles[spec.profile]));
      return 0;
    }
    case 'recover': {
      const spec = arg ? readSpecFile(arg) : undefined;
      const cluster = spec?.cluster ?? values.cluster;
      if (!cluster) break;
      const client = await connectClient();
      const input = spec ? { spec, trigger: 'cli' as const } : { cluster, trigger: 'cli' as const };
      const { handle, started } = await startOrAttachRecovery(client, cluster, { ...input, requireApproval: values['approve-first'] });
      console.log(`${started ? 'started' : 'attached to the running'} recovery ${handle.workflowId}`);
      return printReport(await follow(handle));
    }
    case 'failover': {
      const spec = arg ? readSpecFile(arg) : undefined;
      const cluster = spec?.cluster ?? values.cluster;
      if (!cluster) break;
      const input = spec ? { spec, trigger: 'cli' as const } : { cluster, trigger: 'cli' as const };
      const { handle, started } = await startOrAttachFailover(await connectClient(), cluster, {
        ...input,
        requireApproval: values['approve-first'],
      });
      console.log(`${started ? 'started' : 'attached to the running'} failover ${handle.workflowId}`);
      return printReport(await follow(handle));
    }
    case 'follow':
    case 'status': {
      if (!arg) break;
      const handle = (await connectClient()).workflow.getHandle(arg);
      if (command === 'follow') return printReport(await follow(handle));
      const d = await handle.describe();
      console.log(`${arg}: ${d.status.name}`);
      if (d.status.name === 'COMPLETED') return printReport((await handle.result()) as RecoveryReport);
      const p = await handle.query(progressQuery);
      console.log(p.steps.map(stepLine).join('\n'));
      if (p.failure) console.log(renderFailure(p.failure));
      if (p.waitingFor) console.log(`waiting for approval at ${p.waitingFor.gate}:\n  ${p.waitingFor.evidence.join('\n  ')}`);
      return 0;
    }
    case 'approve':
    case 'abort': {
      if (!arg) break;
      const handle = (await connectClient()).workflow.getHandle(arg);
      if (command === 'approve') await handle.signal(approveSignal, { by: process.env.USER, note: values.note });
      else await handle.signal(abortSignal, { by: process.env.USER, reason: values.reason });
      console.log(`${command} sent to ${arg}`);
      return 0;
    }
    case 'drill': {
      if (arg === 'teardown') {
        if (!arg2) break;
        const hosts = await teardownKeptSandbox(arg2, { log: (host, command) => console.log(`${host}: ${command}`) });
        console.log(
          `sandbox ${arg2} removed (${hosts.map((h) => `${h.host}: ${h.killed} processes killed, ${h.unmounted.length} unmounted, ${h.detached.length} detached`).join('; ')})`,
        );
        return 0;
      }
      if (arg === 'history') {
        console.log(renderDrillHistory(readDrillHistory(values.file ?? drillHistoryPath(), values.cluster)));
        return 0;
      }
      const spec = arg ? readSpecFile(arg) : undefined;
      const cluster = spec?.cluster ?? values.cluster;
      if (!cluster) break;
      const handle = await startDrill(await connectClient(), cluster, {
        ...(spec ? { spec } : { cluster }),
        trigger: 'cli',
        ...(values['keep-sandbox'] ? { keepSandbox: true } : {}),
      });
      console.log(`drill ${handle.workflowId} running: copy the storage, recover the copy, take it away`);
      const { result, error } = await drillOutcome(handle);
      if (result) console.log(renderDrillResult(result));
      else console.log(`drill failed: ${error}`);
      return result?.outcome === 'recovered' ? 0 : 1;
    }
    case 'schedule': {
      const client = await connectClient();
      const cluster = arg2;
      switch (arg) {
        case 'list':
          console.log(renderSchedules(await listDrillSchedules(client)));
          return 0;
        case 'create': {
          if (!cluster) break;
          const h = await createDrillSchedule(client, {
            cluster,
            cron: values.cron,
            spec: values.spec ? readSpecFile(values.spec) : undefined,
            note: values.note,
            keepSandbox: values['keep-sandbox'],
          });
          console.log(
            `schedule ${h.scheduleId} created, next drills: ${(await h.describe()).info.nextActionTimes
              .slice(0, 3)
              .map((d) => d.toISOString())
              .join(', ')}`,
          );
          return 0;
        }
        case 'pause':
        case 'unpause':
        case 'trigger':
        case 'delete': {
          if (!cluster) break;
          if (arg === 'pause') await pauseDrillSchedule(client, cluster, values.note);
          if (arg === 'unpause') await unpauseDrillSchedule(client, cluster, values.note);
          if (arg === 'trigger') await triggerDrillSchedule(client, cluster);
          if (arg === 'delete') await deleteDrillSchedule(client, cluster);
          console.log(`schedule drill/${cluster}: ${arg}${arg.endsWith('e') ? 'd' : 'ed'}`);
          return 0;
        }
      }
      break;
    }
  }
  console.error(USAGE);
  return 2;
}

function printReport(r: RecoveryReport): number {
  console.log(renderReport(r));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof SpecError ? err.message : `error: ${(err as Error).message}`);
    process.exit(1);
  },
);
