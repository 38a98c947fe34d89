import { GenerateDataKeyCommand } from '@aws-sdk/client-kms';
import { createKmsClient, createS3Client } from '../clients/aws';
import { regionsUsed, residencyRequirements, residencyViolations } from '../core/residency';
import { residencyReader } from '../stores/residency';
import type { Knex } from 'knex';
import { configuredUrls, planConnectionUrl, type CutoverConfig } from '../config';
import { redactUrl } from '../stack/endpoints';
import { describeError, probeKms, probePostgres, probeS3Bucket, probeTemporal } from '../stack/health';
import { createDb } from '../clients/postgres';
import type { Plan } from '../plan/types';
import { writeCapabilities } from './read-only';
import { readSourceRole } from './source-role';
import { readLogicalSyncFacts, readPollSyncFacts } from './sync-catalog';
import { logicalSyncRows, pollSyncRows, SYNC_COMPONENT } from './sync-rows';
import { CheckResult } from './table';
import { FOREIGN_KEY_INDEX_CHECK, foreignKeyIndexRow, unindexedForeignKeys } from './foreign-key-indexes';

const STACK_FIX = 'run `npx cutover stack up` (or check the endpoint in the environment)';

async function checkDatabase(name: string, url: string | undefined, envVar: string): Promise<CheckResult> {
  if (!url) return { component: 'PostgreSQL', check: `${name} reachable`, ok: false, detail: 'no connection string', fix: `set ${envVar} or ${STACK_FIX}` };
  const probe = await probePostgres(url);
  return { component: 'PostgreSQL', check: `${name} reachable`, ok: probe.ok, detail: `${redactUrl(url)}: ${probe.detail}`, fix: probe.ok ? undefined : `check ${envVar}, or ${STACK_FIX}` };
}

/** Whether the connected role could write (used by `doctor` and the assessment's pre-flight). */
export async function checkReadOnly(db: Knex): Promise<CheckResult> {
  try {
    const facts = await readSourceRole(db);
    const reasons = writeCapabilities(facts);
    return {
      component: 'PostgreSQL',
      check: 'source role is read-only',
      ok: reasons.length === 0,
      detail: reasons.length ? `role ${facts.role} ${reasons.join('; ')}` : `role ${facts.role}: select only${facts.defaultReadOnly ? ', read-only transactions' : ''}`,
      fix: reasons.length ? 'connect to the source with a role that has SELECT only' : undefined,
    };
  } catch (err) {
    return { component: 'PostgreSQL', check: 'source role is read-only', ok: false, detail: describeError(err) };
  }
}

/** Whether the source is ready for the plan's delta sync: its rows, or one row saying why they could not be read. */
export async function checkSync(db: Knex, plan: Plan): Promise<CheckResult[]> {
  const sync = plan.sync!;
  try {
    return sync.mode === 'logical' ? logicalSyncRows(plan, await readLogicalSyncFacts(db, plan)) : pollSyncRows(plan, await readPollSyncFacts(db, plan));
  } catch (err) {
    return [{ component: SYNC_COMPONENT, check: `source ready for ${sync.mode} sync`, ok: false, detail: `could not read the catalog: ${describeError(err)}` }];
  }
}

export interface DoctorOptions {
  /** A plan: its source connection is the one checked, and with a `sync` section, whether that source can be followed. */
  plan?: Plan;
  /** Where the plan's `source.url_env` is looked up. @default the process's environment (config.ts `planConnectionUrl`) */
  env?: NodeJS.ProcessEnv;
}

/** Checks every dependency and returns one row per check; never throws. */
export async function runDoctor(config: CutoverConfig, options: DoctorOptions = {}): Promise<CheckResult[]> {
  const { plan, env } = options;
  const results: CheckResult[] = [];
  const temporal = await probeTemporal(config);
  results.push({
    component: 'Temporal',
    check: `reachable at ${config.temporal.connection.address}`,
    ok: temporal.ok,
    detail: temporal.detail,
    fix: temporal.ok ? undefined : `${STACK_FIX}; for a remote cluster set TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and TLS or TEMPORAL_API_KEY`,
  });

  const sourceUrl = plan ? planConnectionUrl(plan.source.urlEnv, configuredUrls(config, 'source'), env) : config.databases.sourceUrl;
  const source = await checkDatabase('source', sourceUrl, plan?.source.urlEnv ?? 'CUTOVER_SOURCE_URL');
  results.push(source);
  if (source.ok && sourceUrl) {
    const db = createDb(sourceUrl, { max: 1, applicationName: 'cutover-doctor' });
    try {
      results.push(await checkReadOnly(db));
      if (plan?.sync) results.push(...(await checkSync(db, plan)));
    } finally {
      await db.destroy();
    }
  } else if (plan?.sync) {
    results.push({ component: SYNC_COMPONENT, check: `source ready for ${plan.sync.mode} sync`, ok: false, detail: 'not checked: the source is not reachable' });
  }
  if (plan && !plan.sync) results.push({ component: SYNC_COMPONENT, check: 'plan has a sync section', ok: true, detail: `plan ${plan.name} has none: nothing to check` });
  const target = await checkDatabase('target', config.databases.targetUrl, 'CUTOVER_TARGET_URL');
  results.push(target);
  if (plan && target.ok && config.databases.targetUrl) {
    const db = createDb(config.databases.targetUrl, { max: 1, applicationName: 'cutover-doctor' });
    try {
      results.push(foreignKeyIndexRow(await unindexedForeignKeys(db, plan)));
    } catch (err) {
      results.push({ component: 'PostgreSQL', check: FOREIGN_KEY_INDEX_CHECK, ok: false, detail: describeError(err) });
    } finally {
      await db.destroy();
    }
  }
  results.push(await checkDatabase('control', config.databases.controlUrl, 'CUTOVER_CONTROL_URL'));

  const bucket = await probeS3Bucket(config.s3);
  results.push({
    component: 'S3 (MinIO)',
    check: `staging bucket at ${config.s3.endpoint ?? `AWS ${config.s3.region}`}`,
    ok: bucket.ok,
    detail: bucket.detail,
    fix: bucket.ok ? undefined : `${STACK_FIX}; on AWS set AWS_REGION, CUTOVER_STAGING_BUCKET and credentials`,
  });

  const aliases = Object.values(config.kms.aliases);
  const kms = await probeKms(config.kms, aliases);
  results.push({
    component: 'KMS',
    check: `key aliases at ${config.kms.endpoint ?? `AWS ${config.kms.region}`}`,
    ok: kms.ok,
    detail: kms.detail,
    fix: kms.ok ? undefined : `${STACK_FIX}; on AWS create the aliases or set CUTOVER_KMS_ALIAS_*`,
  });
  if (kms.ok) {
    const client = createKmsClient(config.kms);
    try {
      const key = await client.send(new GenerateDataKeyCommand({ KeyId: config.kms.aliases.staging, KeySpec: 'AES_256', EncryptionContext: { purpose: 'doctor' } }));
      const okKey = key.Plaintext?.length === 32 && (key.CiphertextBlob?.length ?? 0) > 32;
      key.Plaintext?.fill(0);
      results.push({ component: 'KMS', check: 'generate a data key', ok: okKey, detail: okKey ? `AES-256 under ${config.kms.aliases.staging}` : 'unexpected key size' });
    } catch (err) {
      results.push({ component: 'KMS', check: 'generate a data key', ok: false, detail: describeError(err), fix: 'the credentials need kms:GenerateDataKey on the staging key' });
    } finally {
      client.destroy();
    }
  }
  if (plan) results.push(await checkResidency(config, plan, bucket.ok && kms.ok));
  return results;
}

/** The plan's residency: the regions it requires against the bucket's, each key's and the worker's clients' (as prepare checks them). */
async function checkResidency(config: CutoverConfig, plan: Plan, reachable: boolean): Promise<CheckResult> {
  const required = residencyRequirements(plan);
  const check = 'residency: bucket, KMS keys and clients in the required region';
  if (!required.length) return { component: 'Residency', check, ok: true, detail: `plan ${plan.name} requires no region` };
  if (!reachable) return { component: 'Residency', check, ok: false, detail: 'not checked: S3 or KMS is not reachable' };
  const s3 = createS3Client(config.s3);
  const kms = createKmsClient(config.kms);
  try {
    const facts = await residencyReader({ config, s3, kms }).facts(plan);
    const violations = residencyViolations(required, facts);
    const used = regionsUsed(facts);
    if (!violations.length) return { component: 'Residency', check, ok: true, detail: `${required.map((r) => `${r.path} ${r.region}`).join(', ')}: bucket ${used.bucket}, keys ${Object.values(used.keys).join('/')}, clients ${Object.values(used.clients).join('/')}` };
    return { component: 'Residency', check, ok: false, detail: violations.map((v) => v.message).join('; '), fix: 'a staging bucket and KMS keys in the region (staging.bucket, keys.*), and AWS_REGION for the worker' };
  } catch (err) {
    return { component: 'Residency', check, ok: false, detail: describeError(err) };
  } finally {
    s3.destroy();
    kms.destroy();
  }
}
