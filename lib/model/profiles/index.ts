// The profiles' pure side, by name: what the spec, the workflows and the plans ask of a profile.
import { SpecError } from '../spec-error.js';
import type { ProfileModel, ProfileName } from './model.js';
import { polardbModel } from './polardb.js';
import { postgresModel } from './postgres.js';

export const PROFILE_MODELS: { readonly [N in ProfileName]: ProfileModel<N> } = { polardb: polardbModel, postgres: postgresModel };

/** The profile a spec names; an unknown name is a SpecError that lists the known ones. */
export function modelOf(spec: { profile: string }): ProfileModel {
  if (!Object.hasOwn(PROFILE_MODELS, spec.profile))
    throw new SpecError([`profile: unknown profile ${JSON.stringify(spec.profile)} (known: ${Object.keys(PROFILE_MODELS).join(', ')})`]);
  return PROFILE_MODELS[spec.profile as ProfileName];
}
