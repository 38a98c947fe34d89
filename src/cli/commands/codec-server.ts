import { parseArgs } from 'node:util';
import { createKmsClient } from '../../clients/aws';
import { createDb } from '../../clients/postgres';
import { defaultAllowedOrigins, startCodecServer } from '../../codec/codec-server';
import { EncryptionCodec } from '../../codec/payload-codec';
import { codecAllowedOrigins, codecServerPort, codecServerToken, ConfigError, loadConfig } from '../../config';
import { createKeyRing } from '../../crypto/key-ring-factory';
import { Command, EXIT, UsageError } from '../command';

export const codecServerCommand: Command = {
  usage: `cutover codec-server [--port N] [--host ADDR] [--allow-origin URL]... [--print-url]

Temporal's remote codec protocol (POST <endpoint>/decode, <endpoint>/encode) with the
payload codec's key, unwrapped by KMS from the control database. A client presents the
token as "Authorization: Bearer <token>" (temporal CLI: --codec-endpoint http://<host>:<port>
--codec-auth "Bearer <token>"). The Temporal Web UI cannot send a header of your choosing
(its "pass access token" sends the viewer's own OIDC login token, and only to https), so for
it the token goes in the path: http://<host>:<port>/<token>. Click "Configure Codec Server"
(the icon in the top bar), paste that as the "Codec Server browser endpoint" (stored in that
browser only), leave "Pass the user access token" and "Include cross-origin credentials" off.
The token is printed only with --print-url (or by \`cutover stack codec-url\`); a request
without it gets 401 and the UI shows the payloads still encrypted.

  --port N            default CUTOVER_CODEC_PORT or 8234 (0: any free port)
  --host ADDR         default 127.0.0.1 (plain HTTP: keep it on loopback)
  --allow-origin URL  a Web UI origin that may call it (repeatable); default
                      CUTOVER_CODEC_ALLOWED_ORIGINS (comma-separated), else the Web UI's
                      URL as 127.0.0.1 and localhost
  --print-url         print the Web UI's endpoint (the token in its path)

The token comes from CUTOVER_CODEC_TOKEN, else the local stack's secrets.json. Runs until
SIGINT or SIGTERM; \`cutover stack up\` runs it as the stack's "codec" service.`,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        port: { type: 'string' },
        host: { type: 'string', default: '127.0.0.1' },
        'allow-origin': { type: 'string', multiple: true },
        'print-url': { type: 'boolean', default: false },
      },
    });
    const port = values.port === undefined ? codecServerPort() : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: expected a port number 0-65535, got ${JSON.stringify(values.port)}`);
    const config = loadConfig();
    const token = codecServerToken();
    const allowedOrigins = values['allow-origin']?.length
      ? values['allow-origin']
      : (codecAllowedOrigins() ?? defaultAllowedOrigins(config.temporal.uiUrl));
    for (const origin of allowedOrigins) {
      if (!/^https?:\/\/[^/]+$/.test(origin.replace(/\/$/, ''))) throw new UsageError(`allowed origin: expected scheme://host[:port], got ${JSON.stringify(origin)}`);
    }

    if (!config.databases.controlUrl) throw new ConfigError('no control database (for the codec key): set CUTOVER_CONTROL_URL or run `cutover stack up`');
    const control = createDb(config.databases.controlUrl, { max: 1, applicationName: 'cutover-codec-server' });
    const kms = createKmsClient(config.kms);
    let key: Buffer;
    try {
      key = await createKeyRing(config, control, kms).get('codec');
    } finally {
      kms.destroy();
      await control.destroy();
    }

    const log = (line: string) => console.error(`${new Date().toISOString()} codec-server: ${line}`);
    const server = await startCodecServer({ codec: new EncryptionCodec(key), token, allowedOrigins, host: values.host, port, log });
    console.log(`codec server listening on ${server.url} for ${allowedOrigins.join(', ')}`);
    console.log(`endpoint: ${values['print-url'] ? `${server.url}/${token}` : `${server.url}/<token> (print it with --print-url or \`cutover stack codec-url\`)`}`);

    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    });
    await server.close();
    const { decoded, encoded, refused, failed } = server.stats;
    log(`stopped (${signal}): ${decoded} payloads decoded, ${encoded} encoded, ${refused} requests refused, ${failed} failed`);
    return EXIT.ok;
  },
};
