// A migration's own keys from the CLI: their state, a rotation (re-wrap under another KMS key),
// and the shredding that ends a migration's life (`cutover close <id> --shred`).
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Knex } from 'knex';
import { appendAudit } from './audit/store';
import { createKmsClient } from './clients/aws';
import { withControl } from './clients/control';
import type { CutoverConfig } from './config';
import { CONTROL_SCHEMA, ensureControlSchema } from './control/schema';
import { MigrationKeyRing, MigrationKeyState } from './crypto/migration-key-ring';
import { purgeVaultEntries } from './crypto/vault';
import { RefusedError, withClient } from './migration-client';
import { migrationIdFromWorkflow, rollbackWorkflowIdOf } from './migration-status';
import type { Plan } from './plan/types';
import { lockWindow, readWindow, recordWindowClosed } from './rollback-client';

async function withKeyRing<T>(config: CutoverConfig, fn: (control: Knex, ring: MigrationKeyRing, audit: () => Promise<Buffer>) => Promise<T>, applicationName: string): Promise<T> {
  return withControl(
    config,
    async (control, keys) => {
      await ensureControlSchema(control);
      const kms = createKmsClient(config.kms);
      try {
        return await fn(control, new MigrationKeyRing(control, kms), () => keys().get('audit'));
      } finally {
        kms.destroy();
      }
    },
    applicationName,
  );
}

async function registered(control: Knex, migrationId: string): Promise<{ plan: Plan }> {
  const row = await control(`${CONTROL_SCHEMA}.migrations`).where({ migration_id: migrationId }).first('plan');
  if (!row) throw new RefusedError(`migration ${migrationId} is not registered in the control database (prepare did not run): it has no keys`);
  return { plan: row.plan as Plan };
}

/** A migration's key: whose it is, which KMS key wraps it, its generation, and whether it was shredded. */
export async function migrationKeyState(config: CutoverConfig, migrationId: string): Promise<MigrationKeyState> {
  return withKeyRing(
    config,
    async (control, ring) => {
      await registered(control, migrationId);
      return ring.state(migrationId);
    },
    'cutover-keys',
  );
}

/**
 * Re-wraps a migration's root key under `to` (by default the KMS key that wraps it now: after KMS
 * rotated that key's material, the newest material wraps it). Nothing sealed is re-encrypted: the
 * root key stays the same. Recorded in the audit chain with the KMS keys before and after.
 */
export async function rotateMigrationKeys(config: CutoverConfig, migrationId: string, by: string, to?: string): Promise<{ before: MigrationKeyState; after: MigrationKeyState }> {
  return withKeyRing(
    config,
    async (control, ring, auditKey) => {
      await registered(control, migrationId);
      let rotated;
      try {
        rotated = await ring.rotate(migrationId, to);
      } catch (err) {
        throw new RefusedError((err as Error).message);
      }
      const { before, after } = rotated;
      await appendAudit(control, await auditKey(), {
        migrationId,
        actor: by,
        action: 'migration-keys-rotated',
        eventKey: `${migrationId}/migration-keys-rotated/${after.generation}`,
        details: { fromKmsKey: before.kmsKeyId ?? null, toKmsKey: after.kmsKeyId ?? null, fromFingerprint: before.fingerprint ?? null, toFingerprint: after.fingerprint ?? null, generation: after.generation ?? null },
      });
      return rotated;
    },
    'cutover-keys',
  );
}

export interface ShredOutcome {
  migrationId: string;
  /** The key as it was before the shredding (which KMS key wrapped it, its fingerprint), and as it is. */
  before: MigrationKeyState;
  after: MigrationKeyState;
  /** Whether this call shredded it (false: it was already shredded; the vault purge ran again). */
  shredded: boolean;
  /** Whether this call closed the rollback window first (a completed migration whose window was open). */
  closedWindow: boolean;
  vault: { purged: number; handedOver: number };
  quarantinedRows: number;
}

/**
 * Ends a migration's life: its rollback window is closed (when it completed and the window is
 * open), its root key destroyed (every staged object, pre-image, quarantined row and sealed token
 * it left can no longer be opened, by anyone), and the vault entries only it used are purged
 * (entries another migration uses pass to it, as in a rollback). The target and the audit chain
 * are untouched; the audit records the shredding with its evidence. Refused while the migration
 * runs or a rollback of it is under way.
 */
export async function shredMigration(config: CutoverConfig, workflowId: string, by: string, reason?: string): Promise<ShredOutcome> {
  return withClient(config, workflowId, async (client) => {
    const migrationId = migrationIdFromWorkflow(workflowId);
    // Temporal keeps an ended workflow only for its namespace's retention: a migration shredded
    // later than that is known to the control database alone, and has ended for good.
    const d = await client.workflow
      .getHandle(workflowId)
      .describe()
      .catch((err: unknown) => {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      });
    if (d?.status.name === 'RUNNING') throw new RefusedError(`migration ${migrationId} is still running: its keys are shredded after it ends (roll it back or let it complete first)`);
    const rb = await client.workflow
      .getHandle(rollbackWorkflowIdOf(workflowId))
      .describe()
      .catch(() => undefined);
    if (rb?.status.name === 'RUNNING') throw new RefusedError(`a rollback of migration ${migrationId} is under way: its keys cannot be shredded before it ends`);
    const rolledBack = rb?.status.name === 'COMPLETED';
    return withKeyRing(
      config,
      async (control, ring, auditKey) => {
        await registered(control, migrationId);
        const key = await auditKey();
        const quarantinedRows = Number((await control(`${CONTROL_SCHEMA}.quarantine`).where({ migration_id: migrationId }).count<{ n: string }[]>({ n: '*' }))[0]!.n);
        const done = await control.transaction(async (trx) => {
          await lockWindow(trx, migrationId);
          const closedWindow = d?.status.name === 'COMPLETED' && !rolledBack && (await readWindow(trx, migrationId, d.runId)).state === 'open';
          if (closedWindow) await recordWindowClosed(trx, key, migrationId, d.runId, by, reason ?? 'keys shredded');
          let shred;
          try {
            shred = await ring.shred(trx, migrationId, by);
          } catch (err) {
            throw new RefusedError((err as Error).message);
          }
          const shredded = !shred.before.shreddedAt;
          if (shredded) {
            await appendAudit(trx, key, {
              migrationId,
              actor: by,
              action: 'migration-keys-shredded',
              eventKey: `${migrationId}/migration-keys-shredded`,
              details: {
                reason: reason ?? null,
                kmsKey: shred.before.kmsKeyId ?? null,
                fingerprint: shred.before.fingerprint ?? null,
                generation: shred.before.generation ?? null,
                keyCreatedAt: shred.before.createdAt ?? null,
                shreddedAt: shred.after.shreddedAt ?? null,
                ended: d ? d.status.name.toLowerCase() : 'no longer in Temporal (past its retention)',
                rolledBack,
                quarantinedRows,
              },
            });
          }
          return { ...shred, shredded, closedWindow };
        });
        // After the key: entries only this migration used go; a re-run purges what a crash left.
        const vault = await purgeVaultEntries(control, migrationId);
        await appendAudit(control, key, { migrationId, actor: by, action: 'vault-entries-purged', eventKey: `${migrationId}/vault-entries-purged/shred/${vault.purged}/${vault.handedOver}`, details: { ...vault, after: 'keys shredded' } });
        return { migrationId, ...done, vault, quarantinedRows };
      },
      'cutover-close',
    );
  });
}
