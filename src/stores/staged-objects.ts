import { gunzipSync } from 'node:zlib';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/activity';
import { IntegrityError } from '../core/envelope';
import { encryptionContext, stagingKeys } from '../core/staging-keys';
import { LoadedPlan, MigrationContext } from './migration-context';
import type { Manifest, StagedRows } from './manifest';

async function getObject(ctx: MigrationContext, bucket: string, key: string): Promise<Buffer> {
  const out = await ctx.deps.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

/** An IntegrityError becomes a non-retryable failure; anything else passes through. */
export function integrityFailure(err: unknown): never {
  if (err instanceof IntegrityError) throw ApplicationFailure.create({ message: err.message, type: 'IntegrityError', nonRetryable: true });
  throw err;
}

/** Reads and verifies a batch's manifest: decrypted, context checked, identity checked. */
export async function readManifest(ctx: MigrationContext, loaded: LoadedPlan, migrationId: string, entity: string, batchId: string): Promise<Manifest> {
  const keys = stagingKeys(loaded.plan, migrationId, entity, batchId);
  try {
    const plain = await loaded.cipher.decrypt(await getObject(ctx, loaded.bucket, keys.manifest), encryptionContext(migrationId, entity, batchId, 'manifest'), keys.manifest);
    const manifest = JSON.parse(plain.toString('utf8')) as Manifest;
    if (manifest.batchId !== batchId || manifest.planHash !== loaded.planHash) throw new IntegrityError(`${keys.manifest}: belongs to another batch or plan`);
    return manifest;
  } catch (err) {
    return integrityFailure(err);
  }
}

/** Reads and verifies a batch's rows against its manifest; nothing is returned from a tampered object. */
export async function readStagedRows(ctx: MigrationContext, loaded: LoadedPlan, manifest: Manifest): Promise<StagedRows> {
  const keys = stagingKeys(loaded.plan, manifest.migrationId, manifest.entity, manifest.batchId);
  try {
    const plain = await loaded.cipher.decrypt(await getObject(ctx, loaded.bucket, keys.rows), encryptionContext(manifest.migrationId, manifest.entity, manifest.batchId, 'rows'), keys.rows);
    const staged = JSON.parse(gunzipSync(plain).toString('utf8')) as StagedRows;
    if (staged.rows.length !== manifest.rowCount) throw new IntegrityError(`${keys.rows}: ${staged.rows.length} rows, the manifest says ${manifest.rowCount}`);
    return staged;
  } catch (err) {
    return integrityFailure(err);
  }
}
