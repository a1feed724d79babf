// Pure pieces of the operator's view: how follow words what a long step reports, how the worker
// checks its search attributes against what a server says (an injected OperatorService: the
// refusal is also exercised for real in operator-view.test.ts), and the failure chain walk.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure, RetryState } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import { describeFailure } from '../client/failure.js';
import { describeDetails, liveLine } from '../client/follow.js';
import { createCommand, ensureSearchAttributes, SearchAttributesError, type SearchAttributeApi } from '../workers/search-attributes.js';
import { searchAttributeKeys } from '../lib/model/search-attributes.js';

test('follow words heartbeat details: clone bytes of total, a copy, a wait; retries with their last error', () => {
  assert.equal(
    describeDetails({ phase: 'clone', node: 'pb2', bytesDone: 128 * 2 ** 20, bytesTotal: 256 * 2 ** 20 }),
    'clone 128.0 MB of 256.0 MB (50 %)',
  );
  assert.equal(describeDetails({ phase: 'clone', node: 'pb2', bytesDone: 3 * 2 ** 20 }), 'clone 3.0 MB');
  assert.equal(describeDetails({ copying: 'shared', bytes: 2 ** 20 }), 'copy shared 1.0 MB');
  assert.equal(describeDetails({ waiting: 'connections', sinceMs: 1500 }), 'waiting for connections (1.5 s)');
  assert.equal(
    liveLine({ workflowId: 'w', activityId: '3', step: 'startNode:pb1', attempt: 3, lastFailure: 'pb1 did not answer', runningMs: 2100 }),
    '  ...  startNode:pb1  2.1s  attempt 3 (last error: pb1 did not answer)',
  );
});

function fakeApi(have: Record<string, number>, refuse?: string): SearchAttributeApi & { added: Record<string, number>[] } {
  const added: Record<string, number>[] = [];
  return {
    added,
    async listSearchAttributes() {
      return { customAttributes: { ...have } };
    },
    async addSearchAttributes(req) {
      if (refuse) throw new Error(refuse);
      added.push(req.searchAttributes);
      Object.assign(have, req.searchAttributes);
      return {};
    },
  };
}

test('search attributes: present ones are left alone, missing ones registered, a refusal names the command', async () => {
  const all = Object.fromEntries(searchAttributeKeys.map((k) => [k.name, 2]));
  const ok = fakeApi({ ...all });
  assert.deepEqual(await ensureSearchAttributes(ok, 'ns'), { present: ['ClusterName', 'Trigger', 'Phase', 'Outcome'], registered: [] });
  assert.deepEqual(ok.added, []);

  const some = fakeApi({ ClusterName: 2 });
  assert.deepEqual((await ensureSearchAttributes(some, 'ns')).registered, ['Trigger', 'Phase', 'Outcome']);
  assert.deepEqual(some.added, [{ Trigger: 2, Phase: 2, Outcome: 2 }]);

  const refused = fakeApi({ ClusterName: 2 }, 'PermissionDenied: Request unauthorized.');
  await assert.rejects(ensureSearchAttributes(refused, 'prod', { address: 'temporal.internal:7233' }), (err: Error) => {
    assert.ok(err instanceof SearchAttributesError);
    assert.match(
      err.message,
      /lacks the search attributes Trigger, Phase, Outcome and the server refused to register them \(PermissionDenied/,
    );
    assert.match(
      err.message,
      /\n {2}temporal operator search-attribute create --address temporal\.internal:7233 --namespace prod --name Trigger --type Keyword --name Phase --type Keyword --name Outcome --type Keyword$/,
    );
    return true;
  });

  const wrong = fakeApi({ ...all, Phase: 1 });
  await assert.rejects(ensureSearchAttributes(wrong, 'ns'), /search attribute Phase of namespace ns exist with another type than Keyword/);
  assert.equal(
    createCommand(searchAttributeKeys.slice(0, 1), 'default'),
    'temporal operator search-attribute create --namespace default --name ClusterName --type Keyword',
  );
});

test('a failure chain: workflow -> child -> activity -> typed failure gives type, step, node, cause and what to do', () => {
  const app = ApplicationFailure.create({ message: 'pb2 cannot reach the primary', type: 'SlotMissing', nonRetryable: true });
  const act = new ActivityFailure('Activity task failed', 'buildNode', '1', RetryState.NON_RETRYABLE_FAILURE, 'w', app);
  const child = new ChildWorkflowFailure(
    'default',
    { workflowId: 'recover/c1/replica/pb2', runId: 'r' },
    'rebuildReplica',
    RetryState.NON_RETRYABLE_FAILURE,
    act,
  );
  const err = new WorkflowFailedError('Workflow execution failed', child, RetryState.NON_RETRYABLE_FAILURE);
  const f = describeFailure(err);
  assert.equal(f.type, 'SlotMissing');
  assert.equal(f.step, 'buildNode');
  assert.equal(f.node, 'pb2');
  assert.equal(f.cause, 'pb2 cannot reach the primary');
  assert.equal(f.nonRetryable, true);
  assert.match(f.whatToDo ?? '', /replication slot is gone/);
  assert.equal(f.chain.length, 4);
});
