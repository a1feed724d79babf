// Where Temporal is and how to reach it, the Temporal way (@temporalio/envconfig): a profile of
// the TOML config file (TEMPORAL_CONFIG_FILE, else ~/.config/temporalio/temporal.toml; profile
// TEMPORAL_PROFILE, else "default"), overridden by TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
// TEMPORAL_API_KEY, TEMPORAL_TLS, TEMPORAL_TLS_CLIENT_CERT_PATH / _KEY_PATH / _SERVER_CA_CERT_PATH /
// _SERVER_NAME (and their _DATA forms), TEMPORAL_GRPC_META_*. The worker, the CLI and the webhook
// all read it; nothing set means localhost:7233, namespace default, plain gRPC.
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { TLSConfig } from '@temporalio/client';

/** The variables @temporalio/envconfig reads (besides TEMPORAL_GRPC_META_* and the codec ones). */
export const TEMPORAL_ENV_VARS = [
  'TEMPORAL_CONFIG_FILE',
  'TEMPORAL_PROFILE',
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS',
  'TEMPORAL_TLS_CLIENT_CERT_PATH',
  'TEMPORAL_TLS_CLIENT_CERT_DATA',
  'TEMPORAL_TLS_CLIENT_KEY_PATH',
  'TEMPORAL_TLS_CLIENT_KEY_DATA',
  'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  'TEMPORAL_TLS_SERVER_CA_CERT_DATA',
  'TEMPORAL_TLS_SERVER_NAME',
  'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION',
] as const;

export const DEFAULT_ADDRESS = 'localhost:7233';
export const DEFAULT_NAMESPACE = 'default';

export interface TemporalSettings {
  address: string;
  namespace: string;
  /** true / TLS settings: TLS (an API key implies it); undefined or false: plain gRPC. */
  tls?: TLSConfig | boolean;
  apiKey?: string;
  metadata?: Record<string, string>;
}

/** The settings from the config file and the environment; `override` (e.g. the webhook's YAML) wins. */
export function temporalSettings(
  env: NodeJS.ProcessEnv = process.env,
  override: { address?: string; namespace?: string } = {},
): TemporalSettings {
  const vars = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  let loaded;
  try {
    loaded = loadClientConnectConfig({ overrideEnvVars: vars });
  } catch (err) {
    throw new Error(
      `cannot read the Temporal connection settings (TEMPORAL_CONFIG_FILE / TEMPORAL_PROFILE / TEMPORAL_TLS_*): ${(err as Error).message}`,
    );
  }
  const o = loaded.connectionOptions;
  return {
    address: override.address ?? o.address ?? DEFAULT_ADDRESS,
    namespace: override.namespace ?? loaded.namespace ?? DEFAULT_NAMESPACE,
    ...(o.tls !== undefined && o.tls !== null ? { tls: o.tls } : {}),
    ...(typeof o.apiKey === 'string' ? { apiKey: o.apiKey } : {}),
    ...(o.metadata && Object.keys(o.metadata).length ? { metadata: o.metadata as Record<string, string> } : {}),
  };
}

/** One line for logs: where, which namespace, TLS or not; never the key. */
export function describeSettings(s: TemporalSettings): string {
  return `${s.address} namespace ${s.namespace}${s.tls ? ', TLS' : ''}${s.apiKey ? ', API key' : ''}`;
}
