import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';

/**
 * Temporal's remote codec protocol, for the Web UI: `POST <endpoint>/decode` and
 * `POST <endpoint>/encode` with `{ "payloads": [{ "metadata": { k: base64 }, "data": base64 }] }`,
 * answered in the same shape. The token goes in `Authorization: Bearer <token>` (the temporal
 * CLI's `--codec-auth`), where proxies and browser history do not keep it; the Web UI, which
 * cannot send a header of its own, uses `http://host:port/<token>` as its endpoint (it appends
 * `/decode`).
 * Nothing is decoded for a wrong or missing token, and no payload content is ever logged.
 */
export interface CodecServerOptions {
  codec: PayloadCodec;
  /** The shared secret a viewer must present (in the path or as a bearer token). */
  token: string;
  /** Browser origins allowed to call (the Web UI's), e.g. `http://127.0.0.1:8233`. */
  allowedOrigins: readonly string[];
  /** Largest request body accepted. @default 8 MiB (Temporal's payload limit is 2 MB, base64 adds a third). */
  maxBodyBytes?: number;
  /** One line per refusal or failure; never payload contents, never a token. @default no logging */
  log?: (line: string) => void;
}

/** What the server has done since it started; `GET /healthz` reports it too. */
export interface CodecServerStats {
  decoded: number;
  encoded: number;
  /** Requests refused for a wrong or missing token, or a foreign origin. */
  refused: number;
  /** Authorised requests that failed (bad JSON, a payload that does not decrypt). */
  failed: number;
}

export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;
const MIN_TOKEN_LENGTH = 16;
const ALLOWED_HEADERS = 'content-type, x-namespace, authorization';

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Compares two secrets in time independent of where they differ (and of their lengths). */
export function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b));
}

interface WirePayload {
  metadata?: Record<string, string>;
  data?: string;
}

function fromWire(p: unknown, index: number): Payload {
  if (typeof p !== 'object' || p === null || Array.isArray(p)) throw new HttpError(400, `payloads[${index}]: expected an object`);
  const { metadata, data } = p as { metadata?: unknown; data?: unknown };
  const out: Payload = { metadata: {} };
  if (metadata !== undefined && metadata !== null) {
    if (typeof metadata !== 'object' || Array.isArray(metadata)) throw new HttpError(400, `payloads[${index}].metadata: expected an object of base64 strings`);
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') throw new HttpError(400, `payloads[${index}].metadata.${key}: expected a base64 string`);
      out.metadata![key] = Buffer.from(value, 'base64');
    }
  }
  if (data !== undefined && data !== null) {
    if (typeof data !== 'string') throw new HttpError(400, `payloads[${index}].data: expected a base64 string`);
    out.data = Buffer.from(data, 'base64');
  }
  return out;
}

function toWire(p: Payload): WirePayload {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(p.metadata ?? {})) if (value) metadata[key] = Buffer.from(value).toString('base64');
  return { metadata, data: Buffer.from(p.data ?? new Uint8Array()).toString('base64') };
}

function parseBody(raw: Buffer): Payload[] {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpError(400, 'body: expected JSON');
  }
  const payloads = (body as { payloads?: unknown } | null)?.payloads;
  if (!Array.isArray(payloads)) throw new HttpError(400, 'body: expected { "payloads": [...] }');
  return payloads.map(fromWire);
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(new HttpError(413, `body larger than ${limit} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume(); // drain what is still coming; the answer is already decided
        reject(new HttpError(413, `body larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

/** The token presented in the path (`/<token>/decode`) and in the Authorization header. */
function presentedTokens(segments: string[], req: IncomingMessage): string[] {
  const tokens: string[] = [];
  if (segments.length === 2) {
    try {
      tokens.push(decodeURIComponent(segments[0]!));
    } catch {
      tokens.push(segments[0]!); // malformed escapes: compared as they are, and refused
    }
  }
  const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (bearer) tokens.push(bearer[1]!);
  return tokens;
}

/** The request handler, without a listening socket (the tests drive it through `startCodecServer`). */
export function createCodecHandler(options: CodecServerOptions): { handle: (req: IncomingMessage, res: ServerResponse) => void; stats: CodecServerStats } {
  if (options.token.length < MIN_TOKEN_LENGTH) throw new Error(`codec server token: expected at least ${MIN_TOKEN_LENGTH} characters`);
  const limit = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const origins = new Set(options.allowedOrigins.map((o) => o.replace(/\/$/, '')));
  const log = options.log ?? (() => {});
  const stats: CodecServerStats = { decoded: 0, encoded: 0, refused: 0, failed: 0 };

  const send = (res: ServerResponse, status: number, body?: unknown) => {
    if (body === undefined) {
      res.writeHead(status).end();
      return;
    }
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  };

  const refuse = (req: IncomingMessage, res: ServerResponse, action: string, status: number, reason: string) => {
    stats.refused++;
    // The path may hold a (wrong) token: log the action only, never the path.
    log(`refused ${action} from ${req.socket.remoteAddress}${req.headers.origin ? ` (origin ${JSON.stringify(req.headers.origin)})` : ''}: ${reason} (${stats.refused} refused so far)`);
    if (status === 401) res.setHeader('www-authenticate', 'Bearer');
    send(res, status, { error: status === 401 ? 'unauthorized: a valid codec token is required' : reason });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('cache-control', 'no-store');
    res.setHeader('x-content-type-options', 'nosniff');
    const origin = req.headers.origin;
    const originAllowed = origin !== undefined && origins.has(origin);
    if (originAllowed) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('access-control-allow-credentials', 'true');
    }
    res.setHeader('vary', 'Origin');

    const path = new URL(req.url ?? '/', 'http://codec').pathname;
    const segments = path.split('/').filter(Boolean);

    if (req.method === 'OPTIONS') {
      if (!originAllowed) return send(res, 403, { error: 'origin not allowed' });
      res.setHeader('access-control-allow-methods', 'POST, OPTIONS');
      res.setHeader('access-control-allow-headers', ALLOWED_HEADERS);
      res.setHeader('access-control-max-age', '600');
      if (req.headers['access-control-request-private-network'] === 'true') res.setHeader('access-control-allow-private-network', 'true');
      return send(res, 204);
    }
    if (req.method === 'GET' && path === '/healthz') return send(res, 200, { status: 'ok', ...stats });

    const action = segments[segments.length - 1];
    if ((action !== 'decode' && action !== 'encode') || segments.length > 2) return send(res, 404, { error: 'not found: POST <endpoint>/decode or <endpoint>/encode' });
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST, OPTIONS');
      return send(res, 405, { error: 'method not allowed: POST' });
    }
    // A browser always names its origin on a cross-origin POST; command-line clients name none.
    if (origin !== undefined && !originAllowed) return refuse(req, res, action, 403, 'origin not allowed');
    const tokens = presentedTokens(segments, req);
    if (tokens.length === 0) return refuse(req, res, action, 401, 'no token');
    if (!tokens.some((t) => sameSecret(t, options.token))) return refuse(req, res, action, 401, 'wrong token');

    try {
      const payloads = parseBody(await readBody(req, limit));
      let result: Payload[];
      try {
        result = action === 'decode' ? await options.codec.decode(payloads) : await options.codec.encode(payloads);
      } catch (err) {
        // Codec errors name a key id or an integrity failure, never contents; still, keep them out of the answer.
        log(`${action} failed: ${(err as Error).name}: ${(err as Error).message.slice(0, 200)}`);
        throw new HttpError(422, `a payload could not be ${action}d`);
      }
      if (action === 'decode') stats.decoded += result.length;
      else stats.encoded += result.length;
      send(res, 200, { payloads: result.map(toWire) });
    } catch (err) {
      stats.failed++;
      if (err instanceof HttpError) {
        if (err.status === 413) res.setHeader('connection', 'close');
        return send(res, err.status, { error: err.message });
      }
      log(`${action} failed: ${(err as Error).name}`);
      send(res, 500, { error: 'internal error' });
    }
  };

  return {
    stats,
    handle: (req, res) => {
      handle(req, res).catch(() => {
        if (!res.headersSent) send(res, 500, { error: 'internal error' });
        else res.destroy();
      });
    },
  };
}

export interface RunningCodecServer {
  /** Base URL, without the token: `http://127.0.0.1:8234`. */
  url: string;
  port: number;
  stats: CodecServerStats;
  server: Server;
  close(): Promise<void>;
}

/** Listens on host:port (port 0: any free port) until closed. */
export async function startCodecServer(options: CodecServerOptions & { host?: string; port: number }): Promise<RunningCodecServer> {
  const host = options.host ?? '127.0.0.1';
  const { handle, stats } = createCodecHandler(options);
  const server = createServer(handle);
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE' ? new Error(`${host}:${options.port} is already in use (the stack's codec server? \`cutover stack status\`)`) : err);
    });
    server.listen(options.port, host, () => {
      const port = (server.address() as AddressInfo).port;
      const urlHost = host.includes(':') ? `[${host}]` : host;
      resolve({
        url: `http://${urlHost}:${port}`,
        port,
        stats,
        server,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

/** The Web UI's origin and its 127.0.0.1/localhost twin: what a browser on this machine sends. */
export function defaultAllowedOrigins(uiUrl: string): string[] {
  const ui = new URL(uiUrl);
  const origins = new Set([ui.origin]);
  for (const twin of ['127.0.0.1', 'localhost']) {
    if (ui.hostname === '127.0.0.1' || ui.hostname === 'localhost') origins.add(`${ui.protocol}//${twin}${ui.port ? `:${ui.port}` : ''}`);
  }
  return [...origins];
}
