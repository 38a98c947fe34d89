import { parseArgs } from 'node:util';
import { processEnv } from '../../config';
import { redactUrl } from '../../stack/endpoints';
import { SERVICE_NAMES, ServiceName } from '../../stack/services';
import { codecEndpointWithToken, RESTARTABLE, stackDown, stackReset, stackRestart, stackStatus, StackStatus, stackUp } from '../../stack/stack';
import { Command, EXIT, UsageError } from '../command';

function render(status: StackStatus): string {
  const rows = status.services.map((s) => [s.process ? `${s.service}/${s.process.replace(/^temporal-/, '')}` : s.service, s.healthy ? 'healthy' : 'DOWN', s.managedBy, s.pid ? String(s.pid) : '-', s.endpoint, s.detail]);
  const header = ['SERVICE', 'STATE', 'MANAGED BY', 'PID', 'ENDPOINT', 'DETAIL'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  const e = status.endpoints;
  return [
    line(header),
    ...rows.map(line),
    '',
    `Temporal   ${e.temporal.address} (namespace ${e.temporal.namespace}): ${status.temporal.description}`,
    `Web UI     ${e.temporal.uiUrl}`,
    `source     ${redactUrl(e.postgres.sourceUrl)}  (read-only role)`,
    `target     ${redactUrl(e.postgres.targetUrl)}`,
    `control    ${redactUrl(e.postgres.controlUrl)}`,
    `logical PG ${redactUrl(e.logicalPostgres.adminUrl)}  (wal_level=logical, superuser: delta-sync tests make their databases here)`,
    `S3         ${e.s3.endpoint}  bucket ${e.s3.bucket}`,
    `KMS        ${e.kms.endpoint}  ${Object.values(e.kms.aliases).join(', ')}`,
    `codec      ${e.codec.url}  (token: Authorization: Bearer <token>; \`cutover stack codec-url\`)`,
  ].join('\n');
}

function parseServices(list: string[]): ServiceName[] | undefined {
  if (!list.length) return undefined;
  for (const s of list) if (!SERVICE_NAMES.includes(s as ServiceName)) throw new UsageError(`unknown service ${JSON.stringify(s)}: expected one of ${SERVICE_NAMES.join(', ')}`);
  return list as ServiceName[];
}

export const stackCommand: Command = {
  usage: `cutover stack up [service...]       start (idempotent) and wait until healthy
cutover stack down [service...]     stop what \`up\` started (history and data are kept)
cutover stack restart <service...> [--kill]
                                    stop and start again what \`up\` started (e.g. temporal), the
                                    rest left running; --kill: SIGKILL it (a crash), not a graceful stop
cutover stack status [--json]       probe every service; --json prints every endpoint
cutover stack reset                 delete the stack's data (only when it is down)
cutover stack codec-url [--web-ui]  for a viewer allowed to see decrypted payloads: the codec
                                    server's endpoint and the Authorization header that carries
                                    its token; --web-ui: the endpoint with the token in its path,
                                    for the Temporal Web UI, which cannot send such a header

Services: ${SERVICE_NAMES.join(', ')}. Binaries not on PATH are built once from pinned
sources into ~/.cache/cutover/bin (override with CUTOVER_CACHE_DIR or CUTOVER_*_BIN).
The codec server is \`cutover codec-server\` run by Node from this checkout; its token is
generated once per machine, with the other credentials, in ~/.local/state/cutover/secrets.json.
postgres-logical is a PostgreSQL cluster of the stack's own (wal_level=logical, port 5433,
CUTOVER_LOGICAL_PG_PORT), made and run with the machine's initdb and pg_ctl (CUTOVER_PG_BINDIR).
Temporal is the CLI's dev server (history in SQLite) unless CUTOVER_TEMPORAL_SERVER=postgres:
then Temporal's own server with its history in the stack's PostgreSQL (databases
cutover_temporal, cutover_temporal_visibility; schema by temporal-sql-tool), its Web UI
served by Temporal's ui-server, on the same ports (and 7234-7241 for its internal services).`,
  async run(args) {
    const { values, positionals } = parseArgs({ args, options: { json: { type: 'boolean', default: false }, 'web-ui': { type: 'boolean', default: false }, kill: { type: 'boolean', default: false } }, allowPositionals: true });
    const [action, ...rest] = positionals;
    const log = (line: string) => console.error(`stack: ${line}`);
    switch (action) {
      case 'up': {
        const status = await stackUp(processEnv(), log, parseServices(rest));
        console.log(values.json ? JSON.stringify(status, null, 2) : render(status));
        return EXIT.ok;
      }
      case 'down':
        await stackDown(processEnv(), log, parseServices(rest));
        return EXIT.ok;
      case 'restart': {
        const services = parseServices(rest);
        if (!services) throw new UsageError(`stack restart: name the service(s) to restart: ${RESTARTABLE.join(', ')}`);
        const status = await stackRestart(services, processEnv(), log, { kill: values.kill });
        console.log(values.json ? JSON.stringify(status, null, 2) : render(status));
        return EXIT.ok;
      }
      case 'status': {
        const status = await stackStatus();
        console.log(values.json ? JSON.stringify({ healthy: status.services.every((s) => s.healthy), ...status }, null, 2) : render(status));
        return status.services.every((s) => s.healthy) ? EXIT.ok : EXIT.failed;
      }
      case 'reset':
        stackReset();
        console.log('stack data removed');
        return EXIT.ok;
      case 'codec-url': {
        const withToken = codecEndpointWithToken();
        if (values['web-ui']) {
          console.log(withToken);
          console.error('stack: the Web UI cannot send an Authorization header of your choosing ("pass access token" sends its own OIDC login token, and only to https): paste this as its codec endpoint; it holds the token, so keep it to this browser');
          return EXIT.ok;
        }
        // `<url>/<token>`: the token is hex, the URL has no path of its own.
        const cut = withToken.lastIndexOf('/');
        const [endpoint, token] = [withToken.slice(0, cut), withToken.slice(cut + 1)];
        console.log(endpoint);
        console.log(`Authorization: Bearer ${token}`);
        console.error(`stack: send the token as that header, not in the URL (temporal CLI: --codec-endpoint ${endpoint} --codec-auth "Bearer <token>"); for the Web UI: \`cutover stack codec-url --web-ui\``);
        return EXIT.ok;
      }
      default:
        throw new UsageError(action ? `unknown stack action ${JSON.stringify(action)}: expected up, down, restart, status, reset or codec-url` : 'stack: expected up, down, restart, status, reset or codec-url');
    }
  },
};
