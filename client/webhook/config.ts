// The receiver's config file (YAML or JSON): where to listen, which clusters alerts may recover
// and how, and how senders authenticate. Secrets are referenced by file or env var, never inlined.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { specSchemas } from '../../lib/model/spec.js';
import { temporalSettings } from '../temporal-config.js';
import type { AuthConfig } from './auth.js';

export type Policy = 'auto' | 'approve' | 'notify-only';

export interface ClusterPolicy {
  policy: Policy;
  /**
   * For an alert that says the shared storage is lost (triage.ts: label polar_runbook_action=failover):
   * what to do about failover/<cluster>. Default `approve`: a failover loses what the standby has not
   * received, so a person says yes unless the config says otherwise.
   */
  failover: Policy;
  /** After a recovery of the cluster ended, a new incident within this long starts nothing (flapping). 0: off. */
  cooldownMs: number;
}

/** Grafana's code defaults the signature header to the first name, its documentation to the second. */
export const GRAFANA_SIGNATURE_HEADERS = ['X-Grafana-Alert-Signature', 'X-Grafana-Alerting-Signature'];

export interface WebhookConfig {
  listen: { host: string; port: number };
  clusterLabel: string;
  /** The allowlist: only these clusters are ever acted on. */
  clusters: Map<string, ClusterPolicy>;
  auth: AuthConfig;
  bodyLimitBytes: number;
  temporal: { address: string; namespace: string; requestTimeoutMs: number; maxConcurrentCalls: number };
  notifyUrls: string[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid webhook config:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');
const headerName = z.string().regex(/^[A-Za-z0-9-]+$/, 'must be an HTTP header name');
const policy = z.enum(['auto', 'approve', 'notify-only']);
const cooldown = z
  .number()
  .min(0)
  .max(7 * 86400);
const oneSource = (a: string, b: string) => (o: Record<string, unknown>) => (o[a] === undefined) !== (o[b] === undefined);

const Schema = z
  .object({
    listen: z
      .object({ host: z.string().min(1).default('127.0.0.1'), port: z.number().int().min(0).max(65535).default(9095) })
      .strict()
      .prefault({}),
    clusterLabel: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a Prometheus label name')
      .default('cluster'),
    clusters: z
      .record(
        specSchemas().clusterName,
        z.union([policy, z.object({ policy, cooldownSeconds: cooldown.optional(), failover: policy.optional() }).strict()], {
          error: 'give a policy (auto, approve, notify-only) or {policy, cooldownSeconds?, failover?: a policy}',
        }),
      )
      .refine((c) => Object.keys(c).length > 0, 'list at least one cluster'),
    cooldownSeconds: cooldown.default(0),
    auth: z
      .object({
        bearer: z
          .object({ tokenFile: z.string().min(1).optional(), tokenEnv: envName.optional() })
          .strict()
          .refine(oneSource('tokenFile', 'tokenEnv'), 'give exactly one of tokenFile or tokenEnv')
          .optional(),
        hmac: z
          .object({
            secretFile: z.string().min(1).optional(),
            secretEnv: envName.optional(),
            header: headerName.optional(), // default: either of GRAFANA_SIGNATURE_HEADERS
            timestampHeader: headerName.default('X-Grafana-Alerting-Signature-Timestamp'),
            maxSkewSeconds: z.number().int().min(1).max(86400).default(300),
          })
          .strict()
          .refine(oneSource('secretFile', 'secretEnv'), 'give exactly one of secretFile or secretEnv')
          .optional(),
      })
      .strict()
      // An open endpoint that starts disaster recoveries is never what anyone wants.
      .refine((a) => a.bearer || a.hmac, 'configure bearer and/or hmac'),
    bodyLimitBytes: z
      .number()
      .int()
      .min(1)
      .max(16 * 1024 * 1024)
      .default(256 * 1024),
    temporal: z
      .object({
        address: z.string().min(1).optional(),
        namespace: z.string().min(1).optional(),
        requestTimeoutSeconds: z.number().min(0.1).max(120).default(10),
        maxConcurrentCalls: z.number().int().min(1).max(1024).default(16),
      })
      .strict()
      .prefault({}),
    notify: z
      .object({ urls: z.array(z.url({ protocol: /^https?$/ })).default([]) })
      .strict()
      .prefault({}),
  })
  .strict();

function readSecret(path: string, file: string | undefined, env: string | undefined, vars: NodeJS.ProcessEnv): string {
  let value: string | undefined;
  if (file !== undefined) {
    try {
      value = readFileSync(file, 'utf8').trim();
    } catch (e) {
      throw new ConfigError([`${path}File: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`]);
    }
  } else {
    value = vars[env!]?.trim();
    if (value === undefined) throw new ConfigError([`${path}Env: environment variable ${env} is not set`]);
  }
  if (!value) throw new ConfigError([`${path}: the secret is empty`]);
  return value;
}

// zod reports a bad record key as "Invalid key in record"; the key schema's own message says why.
const issueMessage = (i: z.core.$ZodIssue): string => (i.code === 'invalid_key' && i.issues[0] ? i.issues[0].message : i.message);

/** Validates a parsed document and resolves the secrets it references. */
export function parseConfig(doc: unknown, vars: NodeJS.ProcessEnv = process.env): WebhookConfig {
  const r = Schema.safeParse(doc);
  if (!r.success) throw new ConfigError(r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(config)'}: ${issueMessage(i)}`));
  const c = r.data;
  const { bearer, hmac } = c.auth;
  return {
    listen: c.listen,
    clusterLabel: c.clusterLabel,
    clusters: new Map(
      Object.entries(c.clusters).map(([name, p]) => [
        name,
        typeof p === 'string'
          ? { policy: p, failover: 'approve', cooldownMs: c.cooldownSeconds * 1000 }
          : { policy: p.policy, failover: p.failover ?? 'approve', cooldownMs: (p.cooldownSeconds ?? c.cooldownSeconds) * 1000 },
      ]),
    ),
    auth: {
      bearerToken: bearer && readSecret('auth.bearer.token', bearer.tokenFile, bearer.tokenEnv, vars),
      hmac: hmac && {
        secret: readSecret('auth.hmac.secret', hmac.secretFile, hmac.secretEnv, vars),
        headers: (hmac.header ? [hmac.header] : GRAFANA_SIGNATURE_HEADERS).map((h) => h.toLowerCase()),
        timestampHeader: hmac.timestampHeader.toLowerCase(),
        maxSkewSeconds: hmac.maxSkewSeconds,
      },
    },
    bodyLimitBytes: c.bodyLimitBytes,
    temporal: {
      // Unless the file names them: TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE, then the envconfig profile, then the defaults.
      address: c.temporal.address ?? temporalSettings(vars).address,
      namespace: c.temporal.namespace ?? temporalSettings(vars).namespace,
      requestTimeoutMs: c.temporal.requestTimeoutSeconds * 1000,
      maxConcurrentCalls: c.temporal.maxConcurrentCalls,
    },
    notifyUrls: c.notify.urls,
  };
}

export function loadConfig(file: string, vars: NodeJS.ProcessEnv = process.env): WebhookConfig {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8')); // YAML is a superset of JSON
  } catch (e) {
    throw new ConfigError([`${file}: ${(e as Error).message}`]);
  }
  return parseConfig(doc, vars);
}
