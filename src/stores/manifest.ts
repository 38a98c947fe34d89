import type { Value } from '../core/mapping';
import type { StagedFile } from './staged-files';

/** What a staged batch must produce in the target; sealed beside the rows in S3. */
export interface Manifest {
  version: 1;
  migrationId: string;
  entity: string;
  batchId: string;
  planHash: string;
  afterKey: string | null;
  lastKey: string;
  columns: string[];
  businessKey: string[];
  rowCount: number;
  quarantined: number;
  /**
   * [business key as mapped (references still source keys), keyed digest of the expected
   * target row, source key] for every staged row. Manifests staged before the source key was
   * added have two elements.
   */
  digests: [string, string, string?][];
  /** Rows a skip filter left out, by filter name. */
  skipped?: Record<string, number>;
  /** A tree's level this batch belongs to. */
  level?: number;
  /** A sync round's batch: the round, and the source keys it covers that the source no longer has (or now skips). */
  delta?: { round: number; deleted: string[] };
  /** Files the batch's rows refer to, staged encrypted beside it. */
  files: StagedFile[];
}

/** The staged rows: target column order, personal data as tokens (or null when dropped). */
export interface StagedRows {
  columns: string[];
  rows: Value[][];
  sourceKeys: string[];
}
