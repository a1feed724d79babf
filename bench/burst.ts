// Burst: the alert webhook receiver (in process) on the warm dev server, hit by N concurrent
// Alertmanager deliveries of one alert for one cluster, as a flapping rule or a storm of
// retries does. Every one should be 202 (attached to the one recovery), fast, and the receiver
// should make a handful of Temporal calls, not N. The recovery waits at its approval gate
// (policy `approve`); it is terminated afterwards.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { parseConfig } from '../client/webhook/config.js';
import { createWebhookServer, LISTEN_BACKLOG } from '../client/webhook/server.js';
import { recoveryWorkflowId } from '../lib/model/input.js';
import type { Say } from './sections.js';

export interface BurstResult {
  alerts: number;
  /** HTTP status -> how many answers had it. */
  statuses: Record<string, number>;
  accepted: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The same, as the receiver measured it (request in -> answer written): without the client's own share of the CPU. */
  serverP50Ms: number;
  serverP99Ms: number;
  wallMs: number;
  /** Calls the receiver made to Temporal for the whole burst. */
  temporalCalls: number;
  requestTimeoutSeconds: number;
}

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;

export async function burst(ctx: { client: Client; say: Say }, alerts: number, runTag: string): Promise<BurstResult> {
  const cluster = `bench-burst-${runTag}-${randomBytes(2).toString('hex')}`.toLowerCase().replace(/[^a-z0-9_-]/g, '-');
  const token = randomBytes(16).toString('hex');
  const requestTimeoutSeconds = 10;
  const config = parseConfig(
    {
      listen: { host: '127.0.0.1', port: 0 },
      clusters: { [cluster]: 'approve' },
      auth: { bearer: { tokenEnv: 'BENCH_TOKEN' } },
      temporal: { requestTimeoutSeconds },
    },
    { BENCH_TOKEN: token },
  );
  const serverMs: number[] = [];
  const log = (e: Record<string, unknown>) => void (e.path === '/alerts' && typeof e.ms === 'number' && serverMs.push(e.ms));
  const server: Server = createWebhookServer({ config, client: ctx.client, log });
  // As main.ts: a backlog that holds a burst's connections (the default 511 drops SYNs, retried after 1 s, 3 s, ...).
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: LISTEN_BACKLOG }, resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const body = JSON.stringify({
    receiver: 'polar-runbook',
    status: 'firing',
    alerts: [
      {
        status: 'firing',
        labels: { alertname: 'PolarDBComputeDown', cluster },
        annotations: {},
        startsAt: new Date().toISOString(),
        endsAt: '0001-01-01T00:00:00Z',
        fingerprint: `burst-${cluster}`,
      },
    ],
    version: '4',
    groupKey: `{}:{cluster="${cluster}"}`,
  });
  const post = async (): Promise<[number, number]> => {
    const t0 = performance.now();
    try {
      const res = await fetch(`${url}/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body,
      });
      await res.arrayBuffer();
      return [res.status, performance.now() - t0];
    } catch {
      return [0, performance.now() - t0]; // connection refused or reset: counted as status 0
    }
  };
  const calls = async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => l.startsWith('polar_webhook_temporal_calls_total{'))
      .reduce((a, l) => a + Number(l.split(' ')[1]), 0);
  };
  try {
    // Warm: the recovery exists (this first alert started it) and the HTTP path has run once.
    const [first] = await post();
    if (first !== 202) throw new Error(`the warm-up alert got ${first}, not 202`);
    const callsBefore = await calls();
    serverMs.length = 0;
    ctx.say(`  burst: ${alerts} concurrent alerts for ${cluster}`);
    const t0 = performance.now();
    const answers = await Promise.all(Array.from({ length: alerts }, post));
    const wallMs = performance.now() - t0;
    const statuses: Record<string, number> = {};
    for (const [s] of answers) statuses[s] = (statuses[s] ?? 0) + 1;
    const ms = answers.map(([, m]) => m).sort((a, b) => a - b);
    const sms = serverMs.sort((a, b) => a - b);
    const r: BurstResult = {
      alerts,
      statuses,
      accepted: statuses['202'] ?? 0,
      p50Ms: quantile(ms, 0.5),
      p99Ms: quantile(ms, 0.99),
      maxMs: ms[ms.length - 1]!,
      serverP50Ms: quantile(sms, 0.5),
      serverP99Ms: quantile(sms, 0.99),
      wallMs,
      temporalCalls: (await calls()) - callsBefore,
      requestTimeoutSeconds,
    };
    ctx.say(`  burst: ${JSON.stringify(r)}`);
    return r;
  } finally {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await ctx.client.workflow
      .getHandle(recoveryWorkflowId(cluster))
      .terminate('benchmark cleanup')
      .catch(() => undefined);
  }
}
