import { DescribeKeyCommand, KMS } from '@aws-sdk/client-kms';
import { GetBucketLocationCommand, S3Client } from '@aws-sdk/client-s3';
import type { CutoverConfig } from '../config';
import { regionOfArn, ResidencyFacts } from '../core/residency';
import type { Plan } from '../plan/types';
import { SafeError } from './errors';

/** Where a plan's data would go: the staging bucket's region, each KMS key's, the worker's clients'. */
export interface ResidencyReader {
  facts(plan: Pick<Plan, 'staging' | 'keys'>): Promise<ResidencyFacts>;
}

/**
 * Reads residency facts from S3 and KMS: the bucket's location (`GetBucketLocation`; an empty
 * constraint is us-east-1, as S3 defines it), and the ARN of every KMS key the migration seals
 * data under (the plan's or the worker's staging and vault keys, the codec key of Temporal
 * payloads, and the bucket's SSE-KMS key when it is an ARN).
 */
export function residencyReader(deps: { config: CutoverConfig; s3: S3Client; kms: KMS }): ResidencyReader {
  const { config } = deps;
  return {
    async facts(plan) {
      const bucket = plan.staging.bucket ?? config.s3.bucket;
      const location = await deps.s3.send(new GetBucketLocationCommand({ Bucket: bucket })).catch((err: Error) => {
        throw new SafeError(`residency: the location of the staging bucket ${bucket}: ${err.name}: ${err.message}`);
      });
      const wanted = [
        { field: 'keys.staging', key: plan.keys.staging ?? config.kms.aliases.staging },
        { field: 'keys.vault', key: plan.keys.vault ?? config.kms.aliases.vault },
        { field: 'CUTOVER_KMS_ALIAS_CODEC', key: config.kms.aliases.codec },
      ];
      const keys: ResidencyFacts['keys'][number][] = [];
      for (const w of wanted) {
        const arn = await deps.kms
          .send(new DescribeKeyCommand({ KeyId: w.key }))
          .then((d) => d.KeyMetadata?.Arn)
          .catch((err: Error) => {
            throw new SafeError(`residency: describe the KMS key ${w.key} (${w.field}): ${err.name}: ${err.message}`);
          });
        keys.push({ ...w, ...(arn ? { arn } : {}), region: regionOfArn(arn) });
      }
      const sse = plan.staging.sseKmsKeyId ?? config.s3.sseKmsKeyId;
      if (sse?.startsWith('arn:')) keys.push({ field: 'staging.sse_kms_key_id', key: sse, arn: sse, region: regionOfArn(sse) });
      return {
        bucket: { name: bucket, region: location.LocationConstraint || 'us-east-1' },
        keys,
        clients: [
          { service: 'S3', region: config.s3.region, ...(config.s3.endpoint ? { endpoint: config.s3.endpoint } : {}) },
          { service: 'KMS', region: config.kms.region, ...(config.kms.endpoint ? { endpoint: config.kms.endpoint } : {}) },
        ],
      };
    },
  };
}
