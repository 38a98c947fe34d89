/**
 * The quarantine as the activities see it: rows refused at stage or load, sealed under the
 * vault key, and cleared when a later run takes them. `pgQuarantine` is the control database's
 * table (src/control/quarantine-store.ts); a unit test brings a small in-memory one.
 */
import type { Knex } from 'knex';
import { quarantinedKeys } from '../control/quarantine';
import { quarantinedSourceKeys, refusedAtLoad, resolveQuarantine, writeQuarantine } from '../control/quarantine-store';
import type { QuarantineRecord } from '../core/quarantine-record';

export type QuarantineStep = 'stage' | 'load';

export interface Quarantine {
  /** Records refused rows of a batch (a retry overwrites its own entries). */
  write(vaultKey: Uint8Array, ref: { migrationId: string; entity: string; batchId: string }, step: QuarantineStep, records: QuarantineRecord[]): Promise<void>;
  /** Clears entries of rows that went through now: at `stage`, those recorded at staging; at `load`, any. Returns how many. */
  resolve(ref: { migrationId: string; entity: string }, step: QuarantineStep, sourceKeys: readonly string[]): Promise<number>;
  /** Which of these source keys of an entity are quarantined (a child's parent, say). */
  keysOf(migrationId: string, entity: string, sourceKeys: readonly string[]): Promise<Set<string>>;
  /** Every quarantined source key of an entity, at any step. */
  sourceKeys(migrationId: string, entity: string): Promise<Set<string>>;
  /** The rows of one batch its load quarantined: keys only. */
  refusedAtLoad(batch: { migrationId: string; entity: string; batchId: string }): Promise<{ source_key: string; business_key: string }[]>;
}

export function pgQuarantine(control: Knex): Quarantine {
  return {
    write: (vaultKey, ref, step, records) => writeQuarantine(control, vaultKey, ref, step, records),
    resolve: (ref, step, sourceKeys) => resolveQuarantine(control, ref, step, sourceKeys),
    keysOf: (migrationId, entity, sourceKeys) => quarantinedKeys(control, migrationId, entity, sourceKeys),
    sourceKeys: (migrationId, entity) => quarantinedSourceKeys(control, migrationId, entity),
    refusedAtLoad: (batch) => refusedAtLoad(control, batch),
  };
}
