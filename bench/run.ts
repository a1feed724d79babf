// npm run bench [-- --quick] [-- --only overhead,breakdown,fanout,concurrency,polardb,resume,coldstart,datasize,burst,hops] [-- --runs N] [-- --serial-a] [-- --out F]
//
// Measures, on real lab clusters and a real Temporal dev server, in one run: the orchestration
// overhead of recoverCluster against the same activities called by a plain script, the step
// breakdown, replica fan-out, concurrent recoveries on one worker, the polardb profile on the
// PolarDB stand-ins against the seed's commands run raw, resume latency after the worker process
// is SIGKILLed, the compiled worker's cold start, the effect of the data size, and a burst of alerts at the webhook receiver
// (`--only burst` runs it alone: no lab, a minute), and what one step costs Temporal itself with
// its default history queue poll rate and with polar-runbook's settings (`--only hops`: no lab). Progress goes to stderr; a
// markdown summary (with targets, PASS/MISS) to stdout; everything to bench/results.json.
// Cleans up on exit, failure and Ctrl-C: its labs, its worker processes (by PID), its dev server.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { liveLabs, dropAllLabs, runTag } from './labs.js';
import { commandLine, load, machine } from './machine.js';
import { render, type Results } from './render.js';
import { burst } from './burst.js';
import { coldStart, concurrency, dataSize, fanout, overhead, resume, type Ctx } from './sections.js';
import { dropLivePolardbClusters, polardbSection } from './polardb.js';
import { hopsSection } from './hops.js';
import { sec } from './stats.js';
import {
  liveWorkerPids,
  startInProcessWorker,
  startTemporal,
  stopAllWorkerProcesses,
  stopTemporal,
  workerLogFile,
  type BenchTemporal,
  type InProcessWorker,
} from './temporal.js';

const SECTIONS = ['overhead', 'breakdown', 'fanout', 'concurrency', 'polardb', 'resume', 'coldstart', 'datasize', 'burst', 'hops'] as const;
type Section = (typeof SECTIONS)[number];

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    runs: { type: 'string' },
    'serial-a': { type: 'boolean', default: false },
    out: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(`usage: npm run bench [-- --quick] [-- --only ${SECTIONS.join(',')}] [-- --runs N] [-- --serial-a] [-- --out results.json]`);
  process.exit(0);
}
const quick = values.quick!;
const only = new Set<Section>(
  values.only
    ? values.only.split(',').map((s) => {
        const name = s.trim() as Section;
        if (!SECTIONS.includes(name)) throw new Error(`--only: unknown section ${s} (known: ${SECTIONS.join(', ')})`);
        return name;
      })
    : SECTIONS,
);
if (only.has('breakdown')) only.add('overhead'); // the breakdown is read from the overhead's runs

const cfg = {
  quick,
  // The ratio's two sides move by a tenth from one run to the next on a shared machine: a quick
  // figure from one run was noise (1.22x and 1.56x for the same code, 22 minutes apart).
  overheadRuns: values.runs ? Number(values.runs) : quick ? 3 : 5,
  /** (a) with no concurrency at all instead of the workflow's own (standby beside the replicas). */
  serialA: values['serial-a']!,
  fanoutCounts: [1, 2, 4],
  fanoutReps: quick ? 1 : 3,
  concurrency: quick ? [1, 4] : [1, 4, 8],
  dataSizes: quick ? [10] : [10, 1024],
  dataReps: quick ? 1 : 3,
  resumePoints: [{ point: 'primary-start' as const }, { point: 'replica-clone' as const, dataMb: 256 }],
  resumeReps: quick ? 1 : 3,
  coldStarts: quick ? 3 : 5,
  burstAlerts: 1000,
  polardbReps: quick ? 2 : 3,
  hopsRuns: quick ? 3 : 5,
};
if (!Number.isInteger(cfg.overheadRuns) || cfg.overheadRuns < 1) throw new Error('--runs must be a positive integer');

const t0 = Date.now();
const clock = () => {
  const s = Math.round((Date.now() - t0) / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
};
const say = (l: string) => process.stderr.write(`[bench ${clock()}] ${l}\n`);

// ---- cleanup: once, on success, failure, Ctrl-C or SIGTERM ----
let temporal: BenchTemporal | undefined;
let inProcess: InProcessWorker | undefined;
let cleaning: Promise<string[]> | undefined;
let interrupted = false;

const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T | void> =>
  Promise.race([
    p,
    new Promise<void>((r) => setTimeout(() => (say(`  cleanup: ${what} still busy after ${ms / 1000} s, going on`), r()), ms)),
  ]);

function cleanup(): Promise<string[]> {
  cleaning ??= (async () => {
    const problems: string[] = [];
    say(`cleanup: worker processes ${liveWorkerPids().join(', ') || 'none'}, labs ${liveLabs().join(', ') || 'none'}`);
    await within(stopAllWorkerProcesses(), 20_000, 'stopping the worker processes');
    if (inProcess) await within(inProcess.stop(), 20_000, 'stopping the in-process worker');
    problems.push(...(await dropAllLabs(say)));
    problems.push(...(await dropLivePolardbClusters()));
    if (temporal) await within(stopTemporal(temporal), 20_000, 'stopping the dev server');
    if (liveWorkerPids().length) problems.push(`worker processes still running: ${liveWorkerPids().join(', ')}`);
    say(
      problems.length
        ? `cleanup problems:\n  ${problems.join('\n  ')}`
        : 'cleanup done: no lab, worker process or dev server of this run left',
    );
    return problems;
  })();
  return cleaning;
}
// `on`, not `once` (as the demo): execa's exit hook re-raises the signal when it sees no other listener.
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    say(`${sig}: stopping`);
    void cleanup().then(() => process.exit(130));
  });

async function main(): Promise<Results> {
  const m = machine();
  const results: Results = {
    command: commandLine(),
    startedAt: new Date(t0).toISOString(),
    runTag,
    config: { ...cfg, sections: [...only] },
    machine: m,
    loadAtStart: load(),
    errors: {},
  };
  say(`run ${runTag}: ${results.command}; sections ${[...only].join(', ')}; load ${results.loadAtStart}`);
  say('starting a Temporal dev server');
  temporal = await startTemporal();
  const ctx: Ctx = { client: temporal.client, address: temporal.server.address, say };
  say(`dev server on ${temporal.server.address}`);

  const section = async <T>(name: Section, fn: () => Promise<T>): Promise<T | undefined> => {
    if (!only.has(name) || interrupted) return undefined;
    const s0 = Date.now();
    say(`== ${name}`);
    try {
      return await fn();
    } catch (err) {
      if (interrupted) throw err;
      say(`${name} FAILED: ${(err as Error).stack ?? err}`);
      results.errors[name] = (err as Error).message;
      return undefined;
    } finally {
      (results.sectionSeconds ??= {})[name] = Math.round((Date.now() - s0) / 1000);
    }
  };

  // First, before any worker polls: the burst's recovery must stay waiting at its gate.
  results.burst = await section('burst', () => burst(ctx, cfg.burstAlerts, runTag));
  // Its own two dev servers, each with one worker: nothing else polls them.
  results.hops = await section('hops', () => hopsSection(cfg.hopsRuns, say));

  const needsInProcess = (['overhead', 'fanout', 'concurrency', 'datasize', 'polardb'] as const).some((s) => only.has(s));
  if (needsInProcess) {
    inProcess = await startInProcessWorker(temporal);
    results.inProcessWorkerCreateMs = inProcess.createMs;
    say(`in-process worker polling (created in ${sec(inProcess.createMs)})`);
  }

  results.overhead = await section('overhead', () => overhead(ctx, cfg.overheadRuns, cfg.serialA));
  results.fanout = await section('fanout', () => fanout(ctx, cfg.fanoutCounts, cfg.fanoutReps));
  results.concurrency = await section('concurrency', () => concurrency(ctx, cfg.concurrency));
  results.dataSize = await section('datasize', () => dataSize(ctx, cfg.dataSizes, cfg.dataReps));
  results.polardb = await section('polardb', () => polardbSection(ctx.client, cfg.polardbReps, say));
  // Last: the in-process worker must not poll while the worker process is the one under test.
  if ((only.has('resume') || only.has('coldstart')) && inProcess) {
    await inProcess.stop();
    inProcess = undefined;
  }
  results.resume = await section('resume', () => resume(ctx, cfg.resumePoints, cfg.resumeReps));
  results.coldStart = await section('coldstart', () => coldStart(ctx, cfg.coldStarts));
  results.loadAtEnd = load();
  results.durationSeconds = Math.round((Date.now() - t0) / 1000);
  return results;
}

/** --out: elsewhere than bench/results.json (a trial run that must not replace the committed figures). */
const resultsFile = values.out ?? fileURLToPath(new URL('./results.json', import.meta.url));

main().then(
  async (results) => {
    const problems = await cleanup();
    results.cleanupProblems = problems;
    writeFileSync(resultsFile, JSON.stringify(results, null, 2) + '\n');
    process.stdout.write(render(results) + '\n');
    say(`results: ${resultsFile}; worker process log: ${workerLogFile()}`);
    process.exit(Object.keys(results.errors).length || problems.length ? 1 : 0);
  },
  async (err) => {
    if (interrupted) return; // the signal handler cleans up and exits
    say(`bench failed: ${(err as Error).stack ?? err}`);
    await cleanup();
    process.exit(1);
  },
);
