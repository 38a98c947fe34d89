import type { Value } from '../../core/mapping';

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
  /** [business key, keyed digest of the expected target row] for every staged row. */
  digests: [string, string][];
}

/** The staged rows: target column order, personal data as tokens (or null when dropped). */
export interface StagedRows {
  columns: string[];
  rows: Value[][];
  sourceKeys: string[];
}
