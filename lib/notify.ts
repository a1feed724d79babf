// Posts recovery events to chat/incident webhooks (Slack-compatible: the message is in `text`).
// Best effort: a notification must never fail or delay a recovery, so errors are logged and dropped.

export type NotifyEvent =
  | {
      kind: 'started' | 'waiting-approval' | 'succeeded' | 'failed';
      cluster: string;
      workflowId: string;
      text: string;
      [extra: string]: unknown;
    }
  /** An alert for a notify-only cluster: nothing was started. */
  | { kind: 'alert'; cluster: string; text: string; [extra: string]: unknown };

export interface NotifyOptions {
  log?: (entry: Record<string, unknown>) => void;
  timeoutMs?: number;
}

const stderrLog = (entry: Record<string, unknown>) =>
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), ...entry }) + '\n');

/** Only scheme, host and port are logged: a Slack webhook's path is its secret. */
const originOf = (url: string): string => {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid url)';
  }
};

export async function notify(urls: string[], event: NotifyEvent, { log = stderrLog, timeoutMs = 5000 }: NotifyOptions = {}): Promise<void> {
  const body = JSON.stringify(event); // `text` is what Slack-compatible receivers display
  await Promise.all(
    urls.map(async (url) => {
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(timeoutMs),
        });
        await res.body?.cancel();
        if (!res.ok)
          log({
            msg: 'notification refused',
            target: originOf(url),
            kind: event.kind,
            cluster: event.cluster,
            status: res.status,
          });
      } catch (e) {
        const cause = (e as { cause?: { code?: string } }).cause?.code;
        log({
          msg: 'notification failed',
          target: originOf(url),
          kind: event.kind,
          cluster: event.cluster,
          error: cause ?? (e as Error).name,
        });
      }
    }),
  );
}
