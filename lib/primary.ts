// The rebuilt primary is watched by every step that needs it: one that stopped serving is
// PrimaryLost, naming the step, instead of a minute of retries ending in an untyped
// ECONNREFUSED. A short grace (retried) lets a restart of the primary pass.
import { ApplicationFailure } from '@temporalio/common';
import type pg from 'pg';
import type { ClusterSpec } from './model/spec.js';
import { primaryOf } from './model/spec.js';
import { whoAnswers, withDb } from './db.js';
import { failure } from './failures.js';

/** How long after a step's first attempt a primary that does not serve is final. */
export const PRIMARY_GRACE_MS = 10_000;

/**
 * Throws PrimaryLost when the primary does not serve as the read-write node; returns when it does.
 * `sinceMs`: when the step's first attempt was scheduled (retries measure from it).
 */
export async function checkPrimary(spec: ClusterSpec, step: string, sinceMs: number): Promise<void> {
  const primary = primaryOf(spec);
  const p = await whoAnswers(spec, primary);
  if (p.state === 'ours' && !p.inRecovery) return;
  const why = p.state === 'ours' ? 'it answers in recovery' : p.detail;
  const elapsedMs = Date.now() - sinceMs;
  const final = elapsedMs >= PRIMARY_GRACE_MS;
  throw failure(
    'PrimaryLost',
    `${step}: the primary ${primary.name} no longer serves (${why})` +
      (final ? `, ${(elapsedMs / 1000).toFixed(0)} s after the step began` : ': retried a few seconds in case it is restarting'),
    !final,
  );
}

/** Runs `fn` on the primary; when that fails because the primary stopped serving, throws PrimaryLost. */
export async function onPrimary<T>(spec: ClusterSpec, step: string, sinceMs: number, fn: (db: pg.Client) => Promise<T>): Promise<T> {
  try {
    return await withDb(spec, primaryOf(spec), fn);
  } catch (err) {
    if (err instanceof ApplicationFailure) throw err; // typed already (a check that failed)
    await checkPrimary(spec, step, sinceMs);
    throw err;
  }
}
