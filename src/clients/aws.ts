import { KMS } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import type { CutoverConfig } from '../config';

/** S3 client for the staging bucket: the local MinIO or real S3 through the default chain. */
export function createS3Client(s3: CutoverConfig['s3']): S3Client {
  return new S3Client({
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: s3.forcePathStyle,
    credentials: s3.credentials,
    maxAttempts: 3,
  });
}

/** The aggregated client: `send` for our code, methods for the AWS Encryption SDK's keyring. */
export function createKmsClient(kms: CutoverConfig['kms']): KMS {
  // A KMS that hangs (rather than refusing connections) must fail the call, so the activity retries
  // and says why, instead of waiting for its own timeout: the SDK sets no timeout by default.
  return new KMS({ region: kms.region, endpoint: kms.endpoint, credentials: kms.credentials, maxAttempts: 3, requestHandler: { connectionTimeout: 5_000, requestTimeout: 30_000 } });
}
