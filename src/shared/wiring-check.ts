/** Types shared by the wiring-check workflow, its activities and its starter: references only, no data. */

export interface WiringCheckInput {
  /** Names the probe object and its control-DB row; the same id converges to the same result. */
  probeId: string;
  /** Size of the probe payload. @default 4096 */
  bytes?: number;
}

export interface SealedProbe {
  objectKey: string;
  bytes: number;
  sha256: string;
  keyAlias: string;
  sse: string;
}

export interface OpenedProbe {
  verified: true;
  bytes: number;
}

export interface RecordedProbe {
  database: string;
  serverVersion: string;
  checks: number;
}

export interface WiringCheckResult {
  probe: SealedProbe;
  opened: OpenedProbe;
  postgres: RecordedProbe;
}

export const WIRING_CHECK_S3_PREFIX = 'wiring-checks/';
