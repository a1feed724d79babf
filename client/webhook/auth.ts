// Who may trigger a recovery: a bearer token and/or a Grafana HMAC-SHA256 signature.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export interface HmacAuth {
  secret: string;
  /** Lower-case header names the signature may come in (node lower-cases incoming headers); the first present is used. */
  headers: string[];
  timestampHeader: string;
  maxSkewSeconds: number;
}

export interface AuthConfig {
  bearerToken?: string;
  hmac?: HmacAuth;
}

export type AuthResult = { ok: true; method: 'bearer' | 'hmac' | 'bearer+hmac' } | { ok: false; reason: string };

const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();

/**
 * Constant-time equality. timingSafeEqual needs equal lengths; comparing fixed-size digests
 * instead of the raw values means neither the content nor the length of the secret leaks.
 */
function constantTimeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  if (x.length === y.length) return timingSafeEqual(x, y);
  timingSafeEqual(sha256(x), sha256(y));
  return false;
}

const headerValue = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** Grafana signs `timestamp + ":" + body` when it sends a timestamp header, else the body alone. */
function grafanaSignature(secret: string, body: Buffer, timestamp?: string): string {
  const mac = createHmac('sha256', secret);
  if (timestamp !== undefined) mac.update(`${timestamp}:`);
  return mac.update(body).digest('hex');
}

const signatureHeader = (hmac: HmacAuth, headers: IncomingHttpHeaders): string | undefined =>
  hmac.headers.map((h) => headerValue(headers, h)).find((v) => v !== undefined);

function verifyHmac(hmac: HmacAuth, headers: IncomingHttpHeaders, body: Buffer, nowSeconds: number): string | undefined {
  const signature = signatureHeader(hmac, headers)!.trim().toLowerCase();
  const timestamp = headerValue(headers, hmac.timestampHeader)?.trim();
  if (!constantTimeEqual(signature, grafanaSignature(hmac.secret, body, timestamp))) return 'signature does not match';
  if (timestamp === undefined) return undefined;
  if (!/^\d{1,12}$/.test(timestamp)) return 'signature timestamp is not unix seconds';
  // Bounds replays of a captured delivery to the window.
  if (Math.abs(nowSeconds - Number(timestamp)) > hmac.maxSkewSeconds) return 'signature timestamp is outside the allowed window';
  return undefined;
}

/**
 * Every credential the request presents for a configured method must verify, and at least one
 * must be presented: Alertmanager can only send a token, Grafana may send a signature, a token, or both.
 */
export function authenticate(auth: AuthConfig, headers: IncomingHttpHeaders, body: Buffer, nowSeconds: number): AuthResult {
  const bearer = /^Bearer\s+(.+)$/i.exec(headerValue(headers, 'authorization') ?? '')?.[1]?.trim();
  const useBearer = auth.bearerToken !== undefined && bearer !== undefined;
  const useHmac = auth.hmac !== undefined && signatureHeader(auth.hmac, headers) !== undefined;
  if (!useBearer && !useHmac) return { ok: false, reason: 'no credentials: send a bearer token or a signature' };
  if (useBearer && !constantTimeEqual(bearer!, auth.bearerToken!)) return { ok: false, reason: 'bearer token does not match' };
  if (useHmac) {
    const problem = verifyHmac(auth.hmac!, headers, body, nowSeconds);
    if (problem) return { ok: false, reason: problem };
  }
  return { ok: true, method: useBearer && useHmac ? 'bearer+hmac' : useBearer ? 'bearer' : 'hmac' };
}
