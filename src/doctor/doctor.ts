import { GenerateDataKeyCommand } from '@aws-sdk/client-kms';
import { createKmsClient } from '../clients/aws';
import type { CutoverConfig } from '../config';
import { redactUrl } from '../stack/endpoints';
import { describeError, probeKms, probePostgres, probeS3Bucket, probeTemporal } from '../stack/health';
import { createDb } from '../clients/postgres';
import { writeCapabilities } from './read-only';
import { readSourceRole } from './source-role';
import { CheckResult } from './table';

const STACK_FIX = 'run `npx cutover stack up` (or check the endpoint in the environment)';

async function checkDatabase(name: string, url: string | undefined, envVar: string): Promise<CheckResult> {
  if (!url) return { component: 'PostgreSQL', check: `${name} reachable`, ok: false, detail: 'no connection string', fix: `set ${envVar} or ${STACK_FIX}` };
  const probe = await probePostgres(url);
  return { component: 'PostgreSQL', check: `${name} reachable`, ok: probe.ok, detail: `${redactUrl(url)}: ${probe.detail}`, fix: probe.ok ? undefined : `check ${envVar}, or ${STACK_FIX}` };
}

/** Checks every dependency and returns one row per check; never throws. */
export async function runDoctor(config: CutoverConfig): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const temporal = await probeTemporal(config);
  results.push({
    component: 'Temporal',
    check: `reachable at ${config.temporal.connection.address}`,
    ok: temporal.ok,
    detail: temporal.detail,
    fix: temporal.ok ? undefined : `${STACK_FIX}; for a remote cluster set TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and TLS or TEMPORAL_API_KEY`,
  });

  const source = await checkDatabase('source', config.databases.sourceUrl, 'CUTOVER_SOURCE_URL');
  results.push(source);
  if (source.ok && config.databases.sourceUrl) {
    const db = createDb(config.databases.sourceUrl, { max: 1, applicationName: 'cutover-doctor' });
    try {
      const facts = await readSourceRole(db);
      const reasons = writeCapabilities(facts);
      results.push({
        component: 'PostgreSQL',
        check: 'source role is read-only',
        ok: reasons.length === 0,
        detail: reasons.length ? `role ${facts.role} ${reasons.join('; ')}` : `role ${facts.role}: select only${facts.defaultReadOnly ? ', read-only transactions' : ''}`,
        fix: reasons.length ? 'connect to the source with a role that has SELECT only' : undefined,
      });
    } catch (err) {
      results.push({ component: 'PostgreSQL', check: 'source role is read-only', ok: false, detail: describeError(err) });
    } finally {
      await db.destroy();
    }
  }
  results.push(await checkDatabase('target', config.databases.targetUrl, 'CUTOVER_TARGET_URL'));
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
  return results;
}
