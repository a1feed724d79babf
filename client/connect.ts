// The Temporal client for CLI commands: TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE, localhost by default.
import { Client, Connection } from '@temporalio/client';

export async function connectClient(): Promise<Client> {
  const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS ?? 'localhost:7233' });
  return new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
}
