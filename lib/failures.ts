// Typed failures: the type names the problem, the message says what to do about it.
import { ApplicationFailure } from '@temporalio/common';
import { FailureTypes, RETRYABLE_TYPES, type FailureType } from './model/failures.js';

export function failure(type: FailureType, message: string, retryable = RETRYABLE_TYPES.includes(type)): ApplicationFailure {
  return ApplicationFailure.create({ type, message: `${message} (${FailureTypes[type]})`, nonRetryable: !retryable });
}

/** A failure's message without the advice failure() appended to it. */
export function rawMessage(err: ApplicationFailure): string {
  const advice = FailureTypes[err.type as FailureType];
  return advice ? err.message.replace(` (${advice})`, '') : err.message;
}
