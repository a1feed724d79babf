// The Temporal client for CLI commands: settings from @temporalio/envconfig (client/temporal-config.ts),
// localhost:7233 / default by default. A server that does not answer is named within the connect timeout.
import { Client, Connection } from '@temporalio/client';
import { describeSettings, temporalSettings, type TemporalSettings } from './temporal-config.js';

/** How long the CLI waits for the server before it says it cannot reach it (POLAR_CONNECT_TIMEOUT_MS overrides). */
export const CONNECT_TIMEOUT_MS = Number(process.env.POLAR_CONNECT_TIMEOUT_MS) || 2500;

/** Temporal could not be reached (the CLI exits 4). */
export class UnreachableError extends Error {}

export async function connectClient(settings: TemporalSettings = temporalSettings(), timeoutMs = CONNECT_TIMEOUT_MS): Promise<Client> {
  let connection: Connection;
  try {
    connection = await Connection.connect({
      address: settings.address,
      tls: settings.tls,
      apiKey: settings.apiKey,
      metadata: settings.metadata,
      connectTimeout: timeoutMs,
    });
  } catch (err) {
    throw new UnreachableError(
      `cannot reach Temporal at ${describeSettings(settings)} within ${timeoutMs / 1000} s: ${(err as Error).message}` +
        ` (set TEMPORAL_ADDRESS, or a profile: TEMPORAL_PROFILE / TEMPORAL_CONFIG_FILE)`,
    );
  }
  return new Client({ connection, namespace: settings.namespace });
}
