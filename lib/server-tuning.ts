// Temporal server settings for a runbook's latency. The history service's queues poll at most
// 20 times a second per shard by default (`history.*ProcessorMaxPollRPS`): once the limiter's
// burst is spent (a few seconds of steps), every activity scheduled or completed waits for the
// next 50 ms tick, ~40 ms per step on a one-shard dev server. Measured with
// `npm run bench -- --only polardb --quick`; the README's "Temporal for production" gives them too.
export const SERVER_TUNING: Readonly<Record<string, number>> = {
  /** Activity and workflow tasks handed to matching: every step's start and its completion. */
  'history.transferProcessorMaxPollRPS': 1000,
  /** Timers: activity retry backoff, heartbeat and start-to-close timeouts (a killed worker's step). */
  'history.timerProcessorMaxPollRPS': 1000,
  /** Search attributes reaching the list: the check that no other runbook acts on the cluster. */
  'history.visibilityProcessorMaxPollRPS': 1000,
};

/** The same, as `temporal server start-dev --dynamic-config-value` arguments. */
export const devServerTuningArgs = Object.entries(SERVER_TUNING).flatMap(([k, v]) => ['--dynamic-config-value', `${k}=${v}`]);
