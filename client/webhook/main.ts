// Entry point of `npm run webhook`: load the config, connect to Temporal, listen.
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { describeSettings, temporalSettings } from '../temporal-config.js';
import { ConfigError, loadConfig } from './config.js';
import { jsonLinesLog } from './log.js';
import { createWebhookServer, LISTEN_BACKLOG } from './server.js';

const SHUTDOWN_GRACE_MS = 10_000;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string' } } });
  const file = values.config ?? process.env.POLAR_WEBHOOK_CONFIG;
  if (!file) throw new ConfigError(['give the config file with --config <file> or POLAR_WEBHOOK_CONFIG']);
  const config = loadConfig(file);
  const log = jsonLinesLog();

  // TLS, API key and gRPC metadata from the envconfig profile / TEMPORAL_* (client/temporal-config.ts).
  const settings = temporalSettings(process.env, config.temporal);
  const connection = await Connection.connect({
    address: settings.address,
    tls: settings.tls,
    apiKey: settings.apiKey,
    metadata: settings.metadata,
  }).catch((err: Error) => {
    throw new Error(`cannot reach Temporal at ${describeSettings(settings)}: ${err.message}`);
  });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const server = createWebhookServer({ config, client, log });
  server.listen({ port: config.listen.port, host: config.listen.host, backlog: LISTEN_BACKLOG });
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  const addr = server.address();
  const url =
    typeof addr === 'object' && addr ? `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}` : String(addr);
  log({
    msg: 'listening',
    url,
    temporal: config.temporal.address,
    namespace: config.temporal.namespace,
    clusters: [...config.clusters.keys()],
  });

  const shutdown = (signal: string) => {
    log({ msg: 'shutting down', signal });
    // In-flight deliveries finish; a sender cut off by the grace period retries on its own.
    const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS).unref();
    server.close(() => {
      clearTimeout(force);
      // Calls an answered delivery left in flight end by their gRPC deadline; then the connection closes.
      void server
        .idle()
        .then(() => connection.close())
        .finally(() => process.exit(0));
    });
    server.closeIdleConnections();
  };
  process.once('SIGINT', shutdown).once('SIGTERM', shutdown);
}

main().catch((e: Error) => {
  process.stderr.write(`${e instanceof ConfigError ? e.message : `webhook receiver failed: ${e.message}`}\n`);
  process.exit(1);
});
