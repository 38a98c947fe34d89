import { defaultPayloadConverter } from '@temporalio/common';
import { defaultAllowedOrigins, RunningCodecServer, sameSecret, startCodecServer } from '../../src/codec/codec-server';
import { EncryptionCodec } from '../../src/codec/payload-codec';

const KEY = Buffer.alloc(32, 7);
const TOKEN = 'a'.repeat(64);
const UI = 'http://127.0.0.1:8233';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const plain = { metadata: { encoding: b64('json/plain') }, data: b64(JSON.stringify({ email: 'ada@example.com' })) };

describe('the codec server', () => {
  let server: RunningCodecServer;
  const logged: string[] = [];

  beforeAll(async () => {
    server = await startCodecServer({ codec: new EncryptionCodec(KEY), token: TOKEN, allowedOrigins: [UI, 'http://localhost:8233'], port: 0, maxBodyBytes: 64 * 1024, log: (l) => logged.push(l) });
  });

  afterAll(() => server.close());

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  it('encodes and decodes back, with the token in the path as the Web UI sends it', async () => {
    const encodedRes = await post(`/${TOKEN}/encode`, { payloads: [plain] }, { origin: UI, 'x-namespace': 'default' });
    expect(encodedRes.status).toBe(200);
    expect(encodedRes.headers.get('access-control-allow-origin')).toBe(UI);
    expect(encodedRes.headers.get('cache-control')).toBe('no-store');
    const encoded = (await encodedRes.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    expect(Buffer.from(encoded.payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('binary/encrypted');
    expect(Buffer.from(encoded.payloads[0]!.data, 'base64').includes(Buffer.from('ada@example.com'))).toBe(false);

    const decodedRes = await post(`/${TOKEN}/decode`, encoded, { origin: UI });
    expect(decodedRes.status).toBe(200);
    expect(await decodedRes.json()).toEqual({ payloads: [plain] });
  });

  it('decodes what a Temporal client encoded with the same key, and accepts a bearer token', async () => {
    const [encoded] = await new EncryptionCodec(KEY).encode([defaultPayloadConverter.toPayload({ migrationId: 'm-1' })]);
    const wire = { payloads: [{ metadata: Object.fromEntries(Object.entries(encoded!.metadata!).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])), data: Buffer.from(encoded!.data!).toString('base64') }] };
    const res = await post('/decode', wire, { authorization: `Bearer ${TOKEN}` });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { payloads: { data: string }[] };
    expect(JSON.parse(Buffer.from(body.payloads[0]!.data, 'base64').toString())).toEqual({ migrationId: 'm-1' });
  });

  it('refuses a wrong or missing token with 401 and decodes nothing, logging neither token nor payload', async () => {
    const encoded = await (await post(`/${TOKEN}/encode`, { payloads: [plain] })).json();
    const before = server.stats.decoded;
    const refusedBefore = server.stats.refused;
    const wrongToken = 'b'.repeat(64);
    for (const res of [await post(`/${wrongToken}/decode`, encoded, { origin: UI }), await post('/decode', encoded), await post('/decode', encoded, { authorization: `Bearer ${TOKEN.slice(1)}` })]) {
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toEqual({ error: expect.stringMatching(/^unauthorized/) });
    }
    expect(server.stats.decoded).toBe(before);
    expect(server.stats.refused).toBe(refusedBefore + 3);
    const log = logged.join('\n');
    expect(log).toMatch(/refused decode from .*: wrong token/);
    expect(log).toMatch(/refused decode from .*: no token/);
    for (const secret of [TOKEN, wrongToken, 'ada@example.com', plain.data]) expect(log).not.toContain(secret);
  });

  it('answers the Web UI preflight for its origins only', async () => {
    const preflight = await fetch(`${server.url}/${TOKEN}/decode`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:8233', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://localhost:8233');
    expect(preflight.headers.get('access-control-allow-methods')).toBe('POST, OPTIONS');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('content-type, x-namespace, authorization');
    expect(preflight.headers.get('access-control-allow-credentials')).toBe('true');
    expect(preflight.headers.get('vary')).toBe('Origin');

    const foreign = await fetch(`${server.url}/${TOKEN}/decode`, { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    const foreignPost = await post(`/${TOKEN}/decode`, { payloads: [] }, { origin: 'http://evil.example' });
    expect(foreignPost.status).toBe(403);
  });

  it('refuses a body over the limit, bad JSON and unknown paths', async () => {
    const big = await post(`/${TOKEN}/decode`, { payloads: [{ metadata: {}, data: 'A'.repeat(100 * 1024) }] });
    expect(big.status).toBe(413);
    expect((await post(`/${TOKEN}/decode`, '{not json')).status).toBe(400);
    expect((await post(`/${TOKEN}/decode`, { payloads: [{ data: 5 }] })).status).toBe(400);
    expect((await post(`/${TOKEN}/elsewhere`, { payloads: [] })).status).toBe(404);
    expect((await fetch(`${server.url}/${TOKEN}/decode`)).status).toBe(405);
  });

  it('answers 422 for a payload that does not decrypt, without its content', async () => {
    const encoded = (await (await post(`/${TOKEN}/encode`, { payloads: [plain] })).json()) as { payloads: { data: string }[] };
    const bytes = Buffer.from(encoded.payloads[0]!.data, 'base64');
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1;
    encoded.payloads[0]!.data = bytes.toString('base64');
    const res = await post(`/${TOKEN}/decode`, encoded);
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({ error: 'a payload could not be decoded' });
  });

  it('reports its counts on /healthz without a token', async () => {
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', decoded: expect.any(Number), refused: expect.any(Number) });
  });
});

describe('codec server helpers', () => {
  it('compares secrets of any length', () => {
    expect(sameSecret(TOKEN, TOKEN)).toBe(true);
    expect(sameSecret(TOKEN, TOKEN.slice(1))).toBe(false);
    expect(sameSecret('', TOKEN)).toBe(false);
  });

  it('allows the Web UI as 127.0.0.1 and localhost by default', () => {
    expect(defaultAllowedOrigins('http://127.0.0.1:8233')).toEqual(['http://127.0.0.1:8233', 'http://localhost:8233']);
    expect(defaultAllowedOrigins('https://ui.example.com')).toEqual(['https://ui.example.com']);
  });

  it('refuses a short token', async () => {
    await expect(startCodecServer({ codec: new EncryptionCodec(KEY), token: 'short', allowedOrigins: [UI], port: 0 })).rejects.toThrow(/at least 16 characters/);
  });
});
