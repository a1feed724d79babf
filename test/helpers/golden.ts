// Golden files: compared byte for byte; UPDATE_GOLDEN=1 rewrites them (then review the diff).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';

/** Where two texts first differ, with a few lines of context: readable where a whole-text diff is not. */
function firstDifference(expected: string, actual: string): string {
  const e = expected.split('\n');
  const a = actual.split('\n');
  const i = e.findIndex((line, k) => line !== a[k]);
  const at = i < 0 ? e.length : i;
  const show = (xs: string[]) =>
    xs.slice(Math.max(0, at - 3), at + 4).map((l, k) => `  ${Math.max(0, at - 3) + k + 1}: ${JSON.stringify(l)}`);
  return [
    `first difference at line ${at + 1} (golden ${e.length} lines, rendered ${a.length})`,
    'golden:',
    ...show(e),
    'rendered:',
    ...show(a),
  ].join('\n');
}

export function assertGolden(file: string, rendered: string, testFile: string): void {
  if (process.env.UPDATE_GOLDEN) writeFileSync(file, rendered);
  const golden = readFileSync(file, 'utf8');
  if (golden !== rendered)
    assert.fail(
      `${firstDifference(golden, rendered)}\nIf the change is intended: UPDATE_GOLDEN=1 node --import tsx --test ${testFile}, then review the diff`,
    );
}
