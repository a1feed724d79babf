// The spec a workflow acts on: inline in its input, or registered with the worker by name.
import { ApplicationFailure } from '@temporalio/workflow';
import { parseSpec, SpecError, type ClusterSpec, type ClusterSpecInput } from '../lib/model/spec.js';
import { quick } from './options.js';

export async function specFrom(input: { spec?: ClusterSpecInput; cluster?: string }): Promise<ClusterSpec> {
  const doc = input.spec ?? (input.cluster ? await quick.loadRegisteredSpec(input.cluster) : undefined);
  if (!doc)
    throw ApplicationFailure.nonRetryable('give either spec (the cluster spec) or cluster (a registered cluster name)', 'SpecInvalid');
  try {
    return parseSpec(doc);
  } catch (err) {
    if (err instanceof SpecError) throw ApplicationFailure.nonRetryable(err.message, 'SpecInvalid');
    throw err;
  }
}
