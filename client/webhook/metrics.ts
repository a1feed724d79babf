// Prometheus text exposition for the receiver's counters; a handful of counters needs no library.
export type Source = 'alertmanager' | 'grafana' | 'generic';
export type RejectReason =
  | 'body_too_large'
  | 'unsupported_media_type'
  | 'unauthorized'
  | 'malformed'
  | 'unknown_cluster'
  | 'unknown_action'
  | 'temporal_unavailable';

class Counter {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly label?: string,
  ) {}

  inc(labelValue?: string, by = 1): void {
    const key = labelValue ?? '';
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (!this.label) lines.push(`${this.name} ${this.values.get('') ?? 0}`);
    else for (const [v, n] of this.values) lines.push(`${this.name}{${this.label}="${escapeLabel(v)}"} ${n}`);
    return lines.join('\n');
  }
}

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

export class WebhookMetrics {
  readonly received = new Counter('polar_webhook_alerts_received_total', 'Alerts received, by payload source.', 'source');
  readonly deduplicated = new Counter(
    'polar_webhook_alerts_deduplicated_total',
    'Firing alerts that found a recovery already running for their cluster, so started none.',
  );
  readonly rejected = new Counter(
    'polar_webhook_alerts_rejected_total',
    'Deliveries refused (or, for unknown_cluster and unknown_action, firing alerts dropped), by reason.',
    'reason',
  );
  readonly recoveriesStarted = new Counter(
    'polar_webhook_recoveries_started_total',
    'Recoveries this receiver started, by cluster.',
    'cluster',
  );

  readonly failoversStarted = new Counter(
    'polar_webhook_failovers_started_total',
    'Failovers to the standby this receiver started (alerts labelled polar_runbook_action=failover), by cluster.',
    'cluster',
  );

  readonly incidents = new Counter(
    'polar_webhook_alerts_answered_total',
    'Firing alerts of allowlisted clusters, by what became of them: started, attached (a recovery was running), completed or failed (a repeat of an incident whose recovery ended: nothing started), cooldown.',
    'answer',
  );
  readonly tests = new Counter('polar_webhook_test_notifications_total', "Grafana contact point tests answered 'test received'.");
  readonly temporalCalls = new Counter('polar_webhook_temporal_calls_total', 'Calls made to Temporal, by call.', 'call');

  reject(reason: RejectReason, by = 1): void {
    this.rejected.inc(reason, by);
  }

  render(): string {
    return (
      [
        this.received,
        this.deduplicated,
        this.rejected,
        this.recoveriesStarted,
        this.failoversStarted,
        this.incidents,
        this.tests,
        this.temporalCalls,
      ]
        .map((c) => c.render())
        .join('\n') + '\n'
    );
  }
}
