/** A quarantined row as stored: the source row sealed, the reason in clear (codes and names only). */
export interface QuarantineRecord {
  sourceKey: string;
  businessKey?: string;
  reason: string;
  column?: string;
  detail: string;
  row: Record<string, unknown>;
}
