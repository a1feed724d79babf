// A real Temporal dev server for tests: the CLI binary the setup step installed.
import { existsSync } from 'node:fs';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { searchAttributeKeys } from '../../lib/model/search-attributes.js';
import { devServerTuningArgs } from '../../lib/server-tuning.js';
import { temporalCliPath } from '../../scripts/temporal-cli.js';

let quiet = false;

export async function startTemporal(): Promise<TestWorkflowEnvironment> {
  if (!quiet) {
    Runtime.install({ logger: new DefaultLogger('WARN') }); // worker state changes would drown the test output
    quiet = true;
  }
  const path = temporalCliPath();
  if (!existsSync(path)) throw new Error(`Temporal CLI not found at ${path}: run npm run setup (or set TEMPORAL_CLI)`);
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path },
      extraArgs: ['--ui-disable-news-fetch', ...devServerTuningArgs],
      log: { format: 'pretty', level: 'error' },
      searchAttributes: searchAttributeKeys,
    },
  });
}
