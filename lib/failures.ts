// Typed activity failures: the type names the problem, the message says what to do about it.
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { SpecError } from './model/spec.js';
import { FailureTypes, RETRYABLE_TYPES, type FailureType } from './model/failures.js';

export function failure(type: FailureType, message: string, retryable = RETRYABLE_TYPES.includes(type)): ApplicationFailure {
  return ApplicationFailure.create({ type, message: `${message} (${FailureTypes[type]})`, nonRetryable: !retryable });
}

/** A failure's message without the advice failure() appended to it. */
export function rawMessage(err: ApplicationFailure): string {
  const advice = FailureTypes[err.type as FailureType];
  return advice ? err.message.replace(` (${advice})`, '') : err.message;
}

const NETWORK_CODES = ['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN'];

/**
 * What reaches the workflow is always typed: an error an activity did not type itself becomes the
 * catalogue's type for it (a bad node name is SpecInvalid, an unreachable host HostUnreachable),
 * and anything a cancelled activity throws is its cancellation.
 */
export function typedFailure(err: unknown, cancelled: boolean): Error {
  if (cancelled) return err instanceof CancelledFailure ? err : new CancelledFailure(`cancelled: ${(err as Error)?.message ?? err}`);
  if (err instanceof ApplicationFailure || err instanceof CancelledFailure) return err;
  const e = err as NodeJS.ErrnoException;
  if (err instanceof SpecError) return failure('SpecInvalid', e.message);
  if (e?.name === 'HostKeyRejected') return failure('HostKeyRejected', e.message);
  if (e?.name === 'HostUnreachable' || NETWORK_CODES.includes(e?.code ?? '')) return failure('HostUnreachable', e.message);
  return failure('Internal', `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`);
}
