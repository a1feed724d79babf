// The activities as the workflows call them: with each kind of step's timeouts and retries, as
// the step declaration gives them (lib/model/steps.ts), and the notifications'.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { STEP_OPTIONS, type ActivityName, type Step } from '../lib/model/steps.js';

/** Host plumbing: attach, start pfsd/mount, binaries, fencing and slot checks. */
export const quick = proxyActivities<Activities>(STEP_OPTIONS.quick);

/** Building and starting nodes, cloning replicas, waiting for streaming: may take long, heartbeat all along. */
export const long = proxyActivities<Activities>(STEP_OPTIONS.long);

/** A declared step's activity, with the step's own timeouts and retries. */
export const activityOf = <A extends ActivityName>(s: Step, name: A): (typeof quick)[A] => ({ quick, long })[s.timeouts][name];

/** Notifications: best effort, a few quick tries, never in the way of the recovery. */
export const notifier = proxyActivities<Activities>({ startToCloseTimeout: '10s', heartbeatTimeout: '4s', retry: { maximumAttempts: 3 } });
