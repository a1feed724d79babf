// What an activity throws reaches the workflow typed (the worker's interceptor applies it).
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { failure } from '../lib/failures.js';
import { SpecError } from '../lib/model/spec.js';

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
