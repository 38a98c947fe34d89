import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { WiringCheckInput, WiringCheckResult } from '../shared/wiring-check';

// KMS, S3 and PostgreSQL calls each take well under a second; 30 s leaves room for a
// cold MinIO or a slow network, and retries cover a restart of any of them.
const { sealProbe, openProbe, recordProbe } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 10, nonRetryableErrorTypes: ['IntegrityError'] },
});

/**
 * Proves the wiring end to end: a KMS data key encrypts a probe, S3 stores and returns
 * it, KMS unwraps the key, the digest matches, and PostgreSQL records the check.
 */
export async function wiringCheck(input: WiringCheckInput): Promise<WiringCheckResult> {
  const probe = await sealProbe(input);
  const opened = await openProbe({ probeId: input.probeId, objectKey: probe.objectKey, sha256: probe.sha256 });
  const postgres = await recordProbe({ probeId: input.probeId, sha256: probe.sha256 });
  return { probe, opened, postgres };
}
