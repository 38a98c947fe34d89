/**
 * The stores the activities use, built once per worker (src/worker.ts) from its clients. Each is
 * the narrowest interface its activities need; the activities get them as arguments and reach
 * no client any other way. The README's Design section lists which activity uses which.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { KMS } from '@aws-sdk/client-kms';
import type { Knex } from 'knex';
import type { CutoverConfig } from '../config';
import { StagedClearValues } from '../core/staged-clear-values';
import type { KeyRing } from '../crypto/key-ring';
import { ApprovalLog, pgApprovalLog } from './approval-log';
import { AuditLog, pgAuditLog } from './audit-log';
import { BatchRegistry, pgBatchRegistry } from './batch-registry';
import { ChangeLog, pgChangeLog } from './change-log';
import { ConflictLog, pgConflictLog } from './conflict-log';
import { PlanRegistry, PlanStore } from './plan-store';
import { pgQuarantine, Quarantine } from './quarantine';
import { pgTokenVault, TokenVault, withSealedTokens } from './token-vault';
import { pgVerificationLog, VerificationLog } from './verification-log';
import { residencyReader, ResidencyReader } from './residency';
import { FollowedChanges, pgFollowedChanges } from './followed-changes';

export interface Stores {
  /** Registered plans, each bound to its source, target writer and staging store. */
  plans: PlanStore;
  /** The control database's data keys (token, digest, vault, audit), unwrapped by KMS. */
  keys: Pick<KeyRing, 'get'>;
  vault: TokenVault;
  quarantine: Quarantine;
  audit: AuditLog;
  conflicts: ConflictLog;
  batches: BatchRegistry;
  /** Rows whose last verification failed, until a later one finds them right. */
  verification: VerificationLog;
  approvals: ApprovalLog;
  /** Delta sync's captured keys, round by round. */
  changes: ChangeLog;
  /** Logical sync: what the slot's follower kept of the stream, and how far. */
  followed: FollowedChanges;
  /** Clear values of batches this worker staged, until their load here (see StagedClearValues). */
  stagedClearValues: StagedClearValues;
  /** S3 itself, for prepare's checks that the buckets a plan's file columns name exist. */
  s3: S3Client;
  /** Where a plan's data would go (bucket, KMS keys, clients), for its `residency`. */
  residency: ResidencyReader;
}

export interface StoreClients {
  config: CutoverConfig;
  control: Knex;
  s3: S3Client;
  kms: KMS;
  keys: Pick<KeyRing, 'get'>;
}

/** Every store over the worker's clients; `close` ends the pools the plan store opened. */
export function createStores(clients: StoreClients): Stores & { close(): Promise<void> } {
  const plans = new PlanRegistry(clients);
  return {
    plans,
    keys: clients.keys,
    // Values the target gets in clear travel under sealed tokens; the rest through the vault.
    vault: withSealedTokens(pgTokenVault(clients.control)),
    quarantine: pgQuarantine(clients.control),
    audit: pgAuditLog(clients.control, clients.keys),
    conflicts: pgConflictLog(clients.control),
    batches: pgBatchRegistry(clients.control),
    verification: pgVerificationLog(clients.control),
    approvals: pgApprovalLog(clients.control),
    changes: pgChangeLog(clients.control),
    followed: pgFollowedChanges(clients.control),
    stagedClearValues: new StagedClearValues(),
    s3: clients.s3,
    residency: residencyReader(clients),
    close: () => plans.close(),
  };
}
