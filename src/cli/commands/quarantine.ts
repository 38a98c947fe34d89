import { parseArgs } from 'node:util';
import { withControl } from '../../clients/control';
import { loadConfig } from '../../config';
import { CONTROL_SCHEMA, ensureControlSchema } from '../../control/schema';
import { workflowIdFrom } from '../../migration-client';
import { migrationIdFromWorkflow } from '../../migration-status';
import { Command, EXIT, UsageError } from '../command';

interface QuarantineEntry {
  entity: string;
  sourceKey: string;
  stage: string;
  reason: string;
  column: string | null;
  detail: string;
  batchId: string;
  at: string;
}

export const quarantineCommand: Command = {
  usage: `cutover quarantine <migration-id> [--entity NAME] [--limit N] [--json]

Each row the migration could not load, by its source key, with the reason code, the column
and a description without values. The rows themselves stay sealed in the control database.
To replay: fix the rows in the source (by their keys), then start the same plan again; rows
that now load leave the quarantine (the report and this list show what is left).`,
  async run(args) {
    const { values, positionals } = parseArgs({ args, options: { entity: { type: 'string' }, limit: { type: 'string', default: '100' }, json: { type: 'boolean', default: false } }, allowPositionals: true });
    const [id] = positionals;
    if (!id) throw new UsageError('expected: cutover quarantine <migration-id>');
    const limit = Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit: expected a positive whole number, got ${JSON.stringify(values.limit)}`);
    const migrationId = migrationIdFromWorkflow(workflowIdFrom(id));
    return withControl(loadConfig(), async (control) => {
      await ensureControlSchema(control);
      const q = control(`${CONTROL_SCHEMA}.quarantine`).where({ migration_id: migrationId });
      if (values.entity) q.where({ entity: values.entity });
      const total = Number((await q.clone().count({ n: '*' }).first())?.n ?? 0);
      const rows = await q.select('entity', 'source_key', 'stage', 'reason', 'column_name', 'detail', 'batch_id', 'created_at').orderBy(['entity', 'source_key']).limit(limit);
      const entries: QuarantineEntry[] = rows.map((r) => ({
        entity: r.entity,
        sourceKey: r.source_key,
        stage: r.stage,
        reason: r.reason,
        column: r.column_name,
        detail: r.detail,
        batchId: r.batch_id,
        at: new Date(r.created_at).toISOString(),
      }));
      if (values.json) console.log(JSON.stringify({ migrationId, total, entries }, null, 2));
      else if (!total) console.log(`migration ${migrationId}: no quarantined rows${values.entity ? ` for ${values.entity}` : ''}`);
      else {
        console.log(`migration ${migrationId}: ${total} quarantined row${total === 1 ? '' : 's'}${total > entries.length ? ` (first ${entries.length})` : ''}`);
        for (const e of entries) console.log(`  ${e.entity} ${e.sourceKey}: ${e.reason}${e.column ? ` (${e.column})` : ''} at ${e.stage} — ${e.detail}`);
      }
      return EXIT.ok;
    });
  },
};
