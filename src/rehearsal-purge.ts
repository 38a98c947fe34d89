import { randomUUID } from 'node:crypto';
import { DeleteObjectsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Knex } from 'knex';
import { appendAudit } from './audit/store';
import { createS3Client } from './clients/aws';
import { withControl } from './clients/control';
import { createDb } from './clients/postgres';
import { planConnectionUrl, type CutoverConfig } from './config';
import { closeLoadFence } from './control/load-fence';
import { CONTROL_SCHEMA, ensureControlSchema } from './control/schema';
import { purgeVaultEntries } from './crypto/vault';
import { RefusedError, withClient } from './migration-client';
import { migrationIdFromWorkflow, rollbackWorkflowIdOf } from './migration-status';
import { migrationId as idOf } from './plan/hash';
import type { Plan, RehearsalSpec } from './plan/types';

/**
 * Control tables with rows per migration, deleted by a purge, `migrations` last. The migration's
 * own key goes too: what it sealed no longer opens. Every control table with a `migration_id`
 * is either here or in `KEPT_BY_PURGE` (the rehearsal test checks the schema against both).
 */
export const PURGED_CONTROL_TABLES = [
  'batches',
  'quarantine',
  'approvals',
  'rollback_windows',
  'sync_changes',
  'sync_followed',
  'sync_follow_state',
  'sync_conflicts',
  'unverified_rows',
  'migration_keys',
  'migrations',
] as const;

/** Control tables with a `migration_id` a purge does not delete from, and why. */
export const KEPT_BY_PURGE: Record<string, string> = {
  vault_shares: 'purgeVaultEntries deletes or hands over the vault entries and their shares',
  audit: 'the audit chain is append-only: the purge adds its own event',
};

export interface RehearsalPurged {
  migrationId: string;
  rehearsal: RehearsalSpec;
  /** Objects deleted under the rehearsal's own staging prefix. */
  staged: { bucket: string; prefix: string; deleted: number };
  /** Vault entries deleted (only the rehearsal used them) and handed over (another migration uses them too). */
  vault: { purged: number; handedOver: number };
  /** Rows deleted per control table. */
  controlRows: Record<string, number>;
  /** The rehearsal's load fence in the sandbox: closed (no straggling stage or load of it can write), or why not. */
  fence: string;
}

const firstLine = (err: unknown) => ((err as { code?: string }).code ? `error ${(err as { code: string }).code}` : ((err as Error).message ?? String(err)).split('\n')[0]!);

/**
 * Refuses unless the rehearsal has ended: nothing of it (the migration, its entity runs and
 * partitions, a rollback after completion) still running on Temporal. A migration Temporal no
 * longer knows (its history expired) has ended.
 */
async function ensureEnded(config: CutoverConfig, workflowId: string, migrationId: string): Promise<void> {
  await withClient(config, undefined, async (client) => {
    const d = await client.workflow
      .getHandle(workflowId)
      .describe()
      .catch((err) => {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      });
    const still = `migration ${migrationId} is still running`;
    if (d?.status.name === 'RUNNING') throw new RefusedError(`${still}: wait for it to end, or stop it (\`cutover cancel ${migrationId}\`), then purge it`);
    const running: string[] = [];
    for await (const w of client.workflow.list({ query: `RootWorkflowId = '${workflowId.replace(/'/g, "''")}' AND ExecutionStatus = 'Running'` })) running.push(w.workflowId);
    const rb = await client.workflow
      .getHandle(rollbackWorkflowIdOf(workflowId))
      .describe()
      .then((x) => x.status.name, () => undefined);
    if (rb === 'RUNNING') running.push(rollbackWorkflowIdOf(workflowId));
    if (running.length) throw new RefusedError(`${still} (${running.slice(0, 3).join(', ')}${running.length > 3 ? ', …' : ''}): wait until it has ended, then purge it`);
  });
}

/** Closes the rehearsal's load fence in its sandbox, when this process can reach it: a stage or load still in flight ends first, none starts after. */
async function fenceSandbox(plan: Plan, migrationId: string): Promise<string> {
  const url = planConnectionUrl(plan.target.urlEnv);
  if (!url) return `not closed: $${plan.target.urlEnv} is not set here`;
  const db = createDb(url, { max: 1, applicationName: 'cutover-rehearsal-purge' });
  try {
    const ledger = await db.raw('select to_regnamespace(?) is not null as present', [plan.target.ledgerSchema]);
    if (!ledger.rows[0].present) return `not closed: the sandbox has no ledger schema ${plan.target.ledgerSchema} (nothing was loaded there)`;
    await closeLoadFence(db, plan.target.ledgerSchema, migrationId);
    return 'closed';
  } catch (err) {
    return `not closed: the sandbox ($${plan.target.urlEnv}) answered ${firstLine(err)}`;
  } finally {
    await db.destroy();
  }
}

/** Deletes every object under the rehearsal's own staging prefix (`<prefix>/<its migration id>/`). */
async function deleteStaged(config: CutoverConfig, plan: Plan, migrationId: string): Promise<RehearsalPurged['staged']> {
  const bucket = plan.staging.bucket ?? config.s3.bucket;
  const prefix = `${plan.staging.prefix}/${migrationId}/`;
  const s3 = createS3Client(config.s3);
  let deleted = 0;
  try {
    for (;;) {
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1000 }));
      const keys = (listed.Contents ?? []).map((o) => o.Key!).filter((k) => k.startsWith(prefix));
      if (!keys.length) return { bucket, prefix, deleted };
      await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } }));
      deleted += keys.length;
    }
  } finally {
    s3.destroy();
  }
}

/** The registered plan of a migration (undefined when its prepare never ran, or it was purged); refuses one that is not a rehearsal. */
async function registeredRehearsal(control: Knex, migrationId: string): Promise<(Plan & { rehearsal: RehearsalSpec }) | undefined> {
  const row = await control(`${CONTROL_SCHEMA}.migrations`).where({ migration_id: migrationId }).first();
  if (!row) return undefined;
  const plan = row.plan as Plan;
  if (!plan.rehearsal) throw new RefusedError(`migration ${migrationId} is not a rehearsal: \`rehearsal purge\` removes only rehearsals (started with \`cutover start --rehearsal\`); a migration is undone with \`cutover rollback\``);
  // The marker is part of the plan's hash: a registered plan that does not hash to its id is not one `start --rehearsal` made.
  if (idOf(plan) !== migrationId) throw new RefusedError(`migration ${migrationId}: its registered plan does not hash to its id, so it cannot be trusted to be a rehearsal; nothing purged`);
  return plan as Plan & { rehearsal: RehearsalSpec };
}

/**
 * Removes a rehearsal that has ended: its staged objects (its own S3 prefix), its vault entries
 * that no other migration uses (one another migration uses too, such as the real migration that
 * ran after it, passes to that migration, as a rollback's purge does), and its rows in the
 * control database. Kept: the audit chain (append-only; a `rehearsal-purged` event is added),
 * the workflow's history in Temporal, and the sandbox database (the operator's to drop).
 * Refuses a migration that is not a rehearsal (by its registered plan's marker) and a
 * rehearsal still running.
 */
export async function purgeRehearsal(config: CutoverConfig, workflowId: string, by: string, onStep: (step: string) => void = () => undefined): Promise<RehearsalPurged> {
  const migrationId = migrationIdFromWorkflow(workflowId);
  return withControl(
    config,
    async (control, keys) => {
      await ensureControlSchema(control);
      const registered = await registeredRehearsal(control, migrationId);
      await ensureEnded(config, workflowId, migrationId);
      // Read again: a rehearsal that just ended may have been registered meanwhile.
      const plan = registered ?? (await registeredRehearsal(control, migrationId));
      if (!plan) throw new RefusedError(`migration ${migrationId} is not registered in the control database: there is no rehearsal of that id to purge (was it purged already?)`);
      onStep('closing its load fence in the sandbox');
      const fence = await fenceSandbox(plan, migrationId);
      onStep('deleting its staged objects');
      const staged = await deleteStaged(config, plan, migrationId);
      onStep('purging its vault entries');
      const vault = await purgeVaultEntries(control, migrationId);
      onStep('deleting its control rows');
      const auditKey = await keys().get('audit');
      const controlRows = await control.transaction(async (trx) => {
        const counts: Record<string, number> = {};
        // `migrations` last: a purge that stops half-way can be run again, the marker still there.
        for (const table of PURGED_CONTROL_TABLES) counts[table] = Number(await trx(`${CONTROL_SCHEMA}.${table}`).where({ migration_id: migrationId }).delete());
        await appendAudit(trx, auditKey, {
          migrationId,
          actor: by,
          action: 'rehearsal-purged',
          eventKey: `${migrationId}/rehearsal-purged/${randomUUID()}`,
          details: { of: plan.rehearsal.of, stagedObjects: staged.deleted, vaultPurged: vault.purged, vaultHandedOver: vault.handedOver, controlRows: Object.values(counts).reduce((a, b) => a + b, 0) },
        });
        return counts;
      });
      return { migrationId, rehearsal: plan.rehearsal, staged, vault, controlRows, fence };
    },
    'cutover-rehearsal-purge',
  );
}
