// Typed activity failures: the type names the problem, the message says what to do about it.
import { ApplicationFailure } from '@temporalio/common';
import { FailureTypes, type FailureType } from '../common/failures.js';

export function failure(type: FailureType | string, message: string, retryable = false): ApplicationFailure {
  const advice = FailureTypes[type as keyof typeof FailureTypes];
  return ApplicationFailure.create({ type, message: advice ? `${message} (${advice})` : message, nonRetryable: !retryable });
}
