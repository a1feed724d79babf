// An embedded Temporal dev server (the CLI's `server start-dev`) as a child process, Web UI on.
import { execa, type ResultPromise } from 'execa';
import { Connection } from '@temporalio/client';
import { devServerSearchAttributeArgs } from '../lib/model/search-attributes.js';
import { devServerTuningArgs } from '../lib/server-tuning.js';
import { temporalCliPath } from './temporal-cli.js';
import { freePort } from './ports.js';

export interface DevServer {
  address: string;
  uiUrl: string;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  /** Register the project's search attributes at start (default); false: a plain `start-dev`. */
  searchAttributes?: boolean;
  /** The runbook's latency settings (lib/server-tuning.ts; default); false: the server's defaults. */
  tuned?: boolean;
  extraArgs?: string[];
}

export async function startDevServer(o: DevServerOptions = {}): Promise<DevServer> {
  // The ports are free when picked, not when the server binds them: on a busy machine another
  // process may take one first, and the server exits at once. Then again, with new ports.
  for (let attempt = 1; ; attempt++) {
    const r = await startOnce(o);
    if (r.server) return r.server;
    if (!r.exited || attempt >= 3) throw r.error;
  }
}

async function startOnce(o: DevServerOptions): Promise<{ server?: DevServer; exited?: boolean; error?: Error }> {
  const [port, uiPort] = [await freePort(), await freePort()];
  const child: ResultPromise = execa(
    temporalCliPath(),
    [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--ui-port',
      String(uiPort),
      '--ui-disable-news-fetch',
      '--log-level',
      'error',
      ...(o.searchAttributes === false ? [] : devServerSearchAttributeArgs),
      ...(o.tuned === false ? [] : devServerTuningArgs),
      ...(o.extraArgs ?? []),
    ],
    { reject: false, stdio: 'ignore', cleanup: true },
  );
  const address = `127.0.0.1:${port}`;
  const stop = async () => {
    child.kill('SIGTERM');
    await child;
  };
  for (const started = Date.now(); ;) {
    try {
      const c = await Connection.connect({ address, connectTimeout: 1000 });
      await c.close();
      return { server: { address, uiUrl: `http://127.0.0.1:${uiPort}`, stop } };
    } catch (err) {
      const exited = child.exitCode !== null;
      if (exited || Date.now() - started > 30_000) {
        await stop();
        const why = `the Temporal dev server did not come up on ${address}${exited ? ` (it exited with ${child.exitCode})` : ''}: ${(err as Error).message}`;
        return { exited, error: new Error(why) };
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
