// One failure catalogue: the README's table lists every failure type, no more, no less, and says
// whether it is retried as the code does.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { FailureTypes, RETRYABLE_TYPES } from '../lib/model/failures.js';

const rows = readFileSync('README.md', 'utf8')
  .split('\n')
  .flatMap((l) => {
    const m = /^\| `(\w+)` \| (yes|no|briefly) \|/.exec(l);
    return m ? [{ type: m[1]!, retried: m[2]! }] : [];
  });

test("the README's failure table lists every type of the catalogue", () => {
  assert.deepEqual(rows.map((r) => r.type).sort(), Object.keys(FailureTypes).sort());
});

test('the table says which types are retried, as the code does', () => {
  for (const r of rows) {
    const retried = RETRYABLE_TYPES.includes(r.type as (typeof RETRYABLE_TYPES)[number]);
    if (r.type === 'PrimaryLost') assert.equal(r.retried, 'briefly');
    else assert.equal(r.retried, retried ? 'yes' : 'no', r.type);
  }
});
