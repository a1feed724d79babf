import { execa } from 'execa';
import { startDevServer } from '/work/main/scripts/dev-server.ts';
const s = await startDevServer();
const run = async (...a: string[]) => {
  const r = await execa('/work/main/bin/polar-runbook', a, { reject: false, env: { TEMPORAL_ADDRESS: s.address } });
  console.log(`$ polar-runbook ${a.join(' ')}  [exit ${r.exitCode}]\n${r.stdout}${r.stderr ? '\n' + r.stderr : ''}`);
};
try {
  await run('schedule', 'create', 'prlexample', '--cron', '0 3 * * 1', '--spec', 'examples/lab-cluster.yaml', '--note', 'weekly drill');
  await run('schedule', 'create', 'seed');
  await run('schedule', 'list');
  await run('schedule', 'pause', 'seed', '--note', 'storage migration');
  await run('schedule', 'trigger', 'seed');
  await new Promise((r) => setTimeout(r, 1500));
  await run('schedule', 'list');
  await run('schedule', 'unpause', 'seed');
  await run('schedule', 'delete', 'seed');
  await run('schedule', 'delete', 'prlexample');
  await run('schedule', 'list');
  await run('drill', 'history', '--file', '/nonexistent');
  await run('drill');
} finally {
  await s.stop();
}
