// verifyData: tables, fingerprint, consistency and a probe row on every node (lib/steps/verify.ts).
import type { ClusterSpec } from '../lib/model/spec.js';
import { verifyData } from '../lib/steps/verify.js';
import { step, type ActivityDeps } from './context.js';

export const createVerifyActivities = (deps: ActivityDeps) => ({
  verifyData: (spec: ClusterSpec, probeId: string, compareFingerprint: boolean) =>
    step(deps, (s) => verifyData(s, spec, probeId, compareFingerprint)),
});
