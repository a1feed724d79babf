// What starts a recovery. Plain JSON so it can be typed into the Web UI's Start Workflow form.
import type { ClusterSpecInput } from './spec.js';

export const TASK_QUEUE = 'polar-runbook';
export type Trigger = 'ui' | 'cli' | 'webhook' | 'schedule' | 'drill' | 'test';

export interface RecoverInput {
  /** The cluster spec inline, or `cluster`: the name of a spec the worker loaded from its clusters dir. */
  spec?: ClusterSpecInput;
  cluster?: string;
  trigger?: Trigger;
  /** Wait at the first gate for an `approve` signal before touching anything. */
  requireApproval?: boolean;
}

/** What starts a failover to the standby: the same fields as a recovery (JSON for the Web UI). */
export type FailoverInput = RecoverInput;

/** One recovery per cluster at a time: the workflow id is derived from the cluster name. */
export const recoveryWorkflowId = (cluster: string): string => `recover/${cluster}`;

/** One failover per cluster at a time, never beside its recovery (workflows/failover.ts). */
export const failoverWorkflowId = (cluster: string): string => `failover/${cluster}`;

/**
 * A workflow task a dead worker had picked up is handed to another after this long (the server's
 * default is 10 s): it bounds how long a resume waits between steps.
 */
export const WORKFLOW_TASK_TIMEOUT = '4s';
