// Temporal server settings for a runbook's latency. The history service's queues poll at most
// 20 times a second per shard by default (`history.*ProcessorMaxPollRPS`): once the limiter's
// burst is spent (a few seconds of steps), every activity scheduled or completed waits for the
// next 50 ms tick, ~40 ms per step on a one-shard dev server. Measured with
// `npm run bench -- --only polardb --quick`; the README's "Temporal for production" gives them too.
// And the timer queue's read-ahead: a timer due sooner than that is fired at its end instead.
export const SERVER_TUNING: Readonly<Record<string, number | string>> = {
  /** Activity and workflow tasks handed to matching: every step's start and its completion. */
  'history.transferProcessorMaxPollRPS': 1000,
  /** Timers: activity retry backoff, heartbeat and start-to-close timeouts (a killed worker's step). */
  'history.timerProcessorMaxPollRPS': 1000,
  /** Search attributes reaching the list: the check that no other runbook acts on the cluster. */
  'history.visibilityProcessorMaxPollRPS': 1000,
  /**
   * A timer task made due sooner than this is moved to its end (default 1 s). A killed worker's
   * step meets it twice: the heartbeat timeout, re-armed after the step's first heartbeat, then
   * the 200 ms retry backoff, each moved up to a second later: the retry started 3 to 4 s after
   * the kill with a 2 s heartbeat timeout, 2.2 to 2.3 s with 100 ms.
   */
  'history.timerProcessorMaxTimeShift': '100ms',
};

/** The same, as `temporal server start-dev --dynamic-config-value KEY=JSON_VALUE` arguments (a string in quotes). */
export const devServerTuningArgs = Object.entries(SERVER_TUNING).flatMap(([k, v]) => [
  '--dynamic-config-value',
  `${k}=${JSON.stringify(v)}`,
]);
