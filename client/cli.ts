// polar-runbook: the command line. recover | status | follow | approve | abort | plan
import { parseArgs } from 'node:util';
import { renderPlan } from '../activities/plan.js';
import { polardbProfile } from '../activities/profiles/polardb.js';
import { postgresProfile } from '../activities/profiles/postgres.js';
import { renderReport, type RecoveryReport } from '../common/report.js';
import { SpecError } from '../common/spec.js';
import { abortSignal, approveSignal, progressQuery } from '../workflows/definitions.js';
import { connectClient } from './connect.js';
import { follow } from './follow.js';
import { readSpecFile } from './spec-file.js';
import { startOrAttachRecovery } from './start-recovery.js';

const USAGE = `usage: polar-runbook <command>
  recover <spec.yaml> | --cluster <name>   start (or attach to) the recovery and follow it live
  plan <spec.yaml>                          print every command and config block the recovery would run; runs nothing
  status <workflowId>                       progress or final report
  follow <workflowId>                       live progress until it ends
  approve <workflowId> [--note text]        pass the gate the recovery waits at
  abort <workflowId> [--reason text]        stop at the next safe point
Temporal: TEMPORAL_ADDRESS (default localhost:7233), TEMPORAL_NAMESPACE (default default)`;

const profiles = { postgres: postgresProfile, polardb: polardbProfile };

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { cluster: { type: 'string' }, note: { type: 'string' }, reason: { type: 'string' }, 'approve-first': { type: 'boolean' } },
  });
  const [command, arg] = positionals;
  switch (command) {
    case 'plan': {
      if (!arg) break;
      const spec = readSpecFile(arg);
      process.stdout.write(renderPlan(spec, profiles[spec.profile]));
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
    case 'follow':
    case 'status': {
      if (!arg) break;
      const handle = (await connectClient()).workflow.getHandle(arg);
      if (command === 'follow') return printReport(await follow(handle));
      const d = await handle.describe();
      console.log(`${arg}: ${d.status.name}`);
      if (d.status.name === 'COMPLETED') return printReport((await handle.result()) as RecoveryReport);
      const p = await handle.query(progressQuery);
      console.log(
        renderReport({ ...p, workflowId: arg, outcome: 'failed', endedAt: '', rtoMs: Date.now() - Date.parse(p.startedAt), commandsRun: 0 })
          .split('\n')
          .slice(1)
          .join('\n'),
      );
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
