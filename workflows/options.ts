// Timeouts and retries per kind of step. Every activity heartbeats (a worker interceptor does it
// for all of them), so a killed worker is noticed within the heartbeat timeout and the step is
// retried on another worker: the resume latency is about that timeout, not the step's length.
import { ActivityCancellationType, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';

const retry: ActivityOptions['retry'] = {
  initialInterval: '200ms',
  backoffCoefficient: 2,
  maximumInterval: '10s',
  maximumAttempts: 12,
  // A host key that changed may be another machine answering at that address: never retry into it.
  nonRetryableErrorTypes: ['HostKeyRejected'],
};

// An abort waits until the step's commands are ended on the hosts (the activity hears of it at its
// next heartbeat, within about a second): when the workflow says Aborted, nothing of it still runs.
const cancellationType = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED;

/**
 * Every activity heartbeats each second (workers/heartbeat-interceptor.ts, heartbeats reach the
 * server at least every second): a 2 s heartbeat timeout notices a killed worker within 2 s, and
 * a worker already polling (compose runs two) retries the step 200 ms later.
 */
const heartbeatTimeout = '2s';

/** Host plumbing: attach, start pfsd/mount, binaries, fencing and slot checks. */
export const quick = proxyActivities<Activities>({ startToCloseTimeout: '5 minutes', heartbeatTimeout, retry, cancellationType });

/** Building and starting nodes, cloning replicas, waiting for streaming: may take long, heartbeat all along. */
export const long = proxyActivities<Activities>({ startToCloseTimeout: '6 hours', heartbeatTimeout, retry, cancellationType });

/** Notifications: best effort, a few quick tries, never in the way of the recovery. */
export const notifier = proxyActivities<Activities>({ startToCloseTimeout: '10s', heartbeatTimeout: '4s', retry: { maximumAttempts: 3 } });
