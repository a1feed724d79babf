// Reads a ClusterSpec from a YAML or JSON file; errors name the file and the field.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { parseSpec, SpecError, type ClusterSpec } from './model/spec.js';

/** A spec is a small regular file: a device, a FIFO or a huge file is refused before it is read. */
export const MAX_SPEC_BYTES = 1024 * 1024;

export function readSpecFile(path: string): ClusterSpec {
  let text: string;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new SpecError([`${path}: not a regular file (a spec is a YAML or JSON file)`]);
    if (st.size > MAX_SPEC_BYTES) throw new SpecError([`${path}: ${st.size} bytes; a spec file is at most ${MAX_SPEC_BYTES} bytes`]);
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof SpecError) throw err;
    throw new SpecError([`${path}: cannot read the spec file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw new SpecError([`${path}: not valid YAML or JSON: ${(err as Error).message}`]);
  }
  try {
    return parseSpec(doc);
  } catch (err) {
    if (err instanceof SpecError) throw new SpecError(err.problems.map((p) => `${path}: ${p}`));
    throw err;
  }
}

/** Every *.yaml / *.yml / *.json in a directory, by cluster name; all must be valid. */
export function readSpecDir(dir: string): Map<string, ClusterSpec> {
  const out = new Map<string, ClusterSpec>();
  for (const f of readdirSync(dir).sort()) {
    if (!/\.(ya?ml|json)$/.test(f)) continue;
    const spec = readSpecFile(join(dir, f));
    if (out.has(spec.cluster)) throw new SpecError([`${join(dir, f)}: cluster ${spec.cluster} is registered twice`]);
    out.set(spec.cluster, spec);
  }
  return out;
}
