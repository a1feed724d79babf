// Takes away a sandbox a drill kept (keepSandbox): `polar-runbook drill teardown <sandbox dir>`,
// run where the sandbox dir is (as root). The drill wrote what the sandbox is into it; only a
// dir with the drill's marker is touched, and only what lies below it.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { hostFor as defaultHostFor } from '../lib/hosts/index.js';
import type { Host } from '../lib/hosts/types.js';
import { Journal } from '../lib/ops.js';
import { hostsOf, SANDBOX_FILE, teardownOnHost, type TeardownResult } from '../lib/sandbox.js';
import { DRILL_MARKER } from '../lib/model/drill.js';
import type { Sandbox } from '../lib/model/sandbox.js';
import type { NodeSpec } from '../lib/model/spec.js';

export async function teardownKeptSandbox(
  dir: string,
  o: { hostFor?: (n: NodeSpec) => Host; log?: (host: string, command: string) => void } = {},
): Promise<TeardownResult[]> {
  const d = resolve(dir);
  if (!existsSync(join(d, DRILL_MARKER))) throw new Error(`${d} has no ${DRILL_MARKER} marker: not a drill sandbox, left alone`);
  const sb = JSON.parse(readFileSync(join(d, SANDBOX_FILE), 'utf8')) as Sandbox;
  if (sb.dir !== d) throw new Error(`${join(d, SANDBOX_FILE)} describes ${sb.dir}, not ${d}: left alone`);
  const j = new Journal(o.log);
  const out: TeardownResult[] = [];
  for (const { host } of hostsOf(sb.spec, o.hostFor ?? defaultHostFor)) out.push(await teardownOnHost(host, sb, j));
  return out;
}
