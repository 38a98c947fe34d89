import { parseArgs } from 'node:util';
import { AuditHead, AuditRow, describeBreak } from '../../audit/chain';
import { auditEvents, verifyAudit } from '../../audit/store';
import { withControl } from '../../clients/control';
import { loadConfig } from '../../config';
import { migrationIdFromWorkflow } from '../../migration-status';
import { Command, EXIT, UsageError } from '../command';

const USAGE = `cutover audit verify [--anchor SEQ:HASH] [--json]
cutover audit log [<migration-id>] [--limit N] [--json]

verify recomputes every link of the control database's audit chain (an HMAC chain keyed
by KMS) and exits 1 naming the first row that was changed, removed or relinked. Rows
removed at the end leave a valid, shorter chain: pass a head printed earlier as --anchor
(e.g. 1234:3f9a0c1b2d4e) to check the chain still holds it.

log prints recorded events in order, for one migration or all; --limit N the latest N.`;


function parseAnchor(text: string): AuditHead {
  const m = /^#?(\d+):([0-9a-f]{12,64})$/i.exec(text);
  if (!m || Number(m[1]) < 1) throw new UsageError(`--anchor: expected SEQ:HASH (a row number and at least 12 hex characters of its hash), got ${JSON.stringify(text)}`);
  return { seq: Number(m[1]), hash: m[2]!.toLowerCase() };
}

async function verify(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { json: { type: 'boolean', default: false }, anchor: { type: 'string' } }, allowPositionals: true });
  if (positionals.length) throw new UsageError(`audit verify takes no arguments, got ${JSON.stringify(positionals[0])}`);
  const anchor = values.anchor === undefined ? undefined : parseAnchor(values.anchor);
  const result = await withControl(loadConfig(), async (control, keys) => verifyAudit(control, await keys().get('audit'), { anchor }), 'cutover-audit');
  if (values.json) console.log(JSON.stringify(result, null, 2));
  else if (result.broken) console.log(describeBreak(result.broken));
  else if (result.head) console.log(`audit chain intact: ${result.rows} rows, head #${result.head.seq} ${result.head.hash.slice(0, 12)}`);
  else console.log('audit chain intact: no rows yet');
  return result.ok ? EXIT.ok : EXIT.failed;
}

/** `key=value` pairs by name (jsonb keeps no order); a string is quoted only when it needs to be. */
function compact(details: AuditRow['details']): string {
  return Object.entries(details)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${typeof v === 'string' && /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
}

async function log(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { json: { type: 'boolean', default: false }, limit: { type: 'string' } }, allowPositionals: true });
  if (positionals.length > 1) throw new UsageError('expected: cutover audit log [<migration-id>]');
  let limit: number | undefined;
  if (values.limit !== undefined) {
    limit = Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit: expected a positive whole number, got ${JSON.stringify(values.limit)}`);
  }
  // A migration named by its id (lms-0882549636e5) or its workflow id (cutover-lms-…).
  const migrationId = positionals[0] === undefined ? undefined : migrationIdFromWorkflow(positionals[0]);
  const events = await withControl(loadConfig(), (control) => auditEvents(control, migrationId, { limit }), 'cutover-audit');
  if (values.json) {
    console.log(JSON.stringify(events, null, 2));
    return EXIT.ok;
  }
  if (!events.length) {
    console.log(migrationId ? `no audit events for migration ${migrationId}` : 'no audit events');
    return EXIT.ok;
  }
  const width = (pick: (e: AuditRow) => string) => Math.max(...events.map((e) => pick(e).length));
  const [seqW, actorW, actionW] = [width((e) => `#${e.seq}`), width((e) => e.actor), width((e) => e.action)];
  for (const e of events) {
    const columns = [e.at, `#${e.seq}`.padStart(seqW), e.actor.padEnd(actorW), e.action.padEnd(actionW)];
    if (!migrationId) columns.push(e.migrationId);
    columns.push(compact(e.details));
    console.log(columns.join('  ').trimEnd());
  }
  return EXIT.ok;
}

export const auditCommand: Command = {
  usage: USAGE,
  async run(args) {
    const [sub, ...rest] = args;
    if (sub === 'verify') return verify(rest);
    if (sub === 'log') return log(rest);
    throw new UsageError(`expected: cutover audit verify | cutover audit log${sub ? ` (unknown subcommand ${JSON.stringify(sub)})` : ''}`);
  },
};
