// The profile registry: each profile name with what it renders and runs on hosts. The pure side
// (spec rules, build prerequisites, shared nodes) is lib/model/profiles, which this extends.
import { modelOf } from '../model/profiles/index.js';
import type { ProfileName } from '../model/profiles/model.js';
import { polardbProfile } from './polardb.js';
import { postgresProfile } from './postgres.js';
import type { Profile } from './types.js';

const PROFILES: { readonly [N in ProfileName]: Profile<N> } = { polardb: polardbProfile, postgres: postgresProfile };

/** The profile a spec names; an unknown name is a SpecError that lists the known ones. */
export const profileOf = (spec: { profile: string }): Profile => PROFILES[modelOf(spec).name];
