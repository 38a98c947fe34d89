import type { Plan } from '../plan/types';

/** Deterministic object keys: a re-run writes the same keys. */
export function stagingKeys(plan: Plan, migrationId: string, entity: string, batchId: string): { rows: string; manifest: string; file(fileId: string): string } {
  const base = `${plan.staging.prefix}/${migrationId}/${entity}/${batchId}`;
  return { rows: `${base}/rows.json.gz.enc`, manifest: `${base}/manifest.json.enc`, file: (fileId) => `${base}/files/${fileId}.enc` };
}

export function encryptionContext(migrationId: string, entity: string, batchId: string, part: 'rows' | 'manifest'): Record<string, string> {
  return { 'cutover:migration': migrationId, 'cutover:entity': entity, 'cutover:batch': batchId, 'cutover:part': part };
}

export function fileContext(migrationId: string, entity: string, batchId: string, fileId: string): Record<string, string> {
  return { 'cutover:migration': migrationId, 'cutover:entity': entity, 'cutover:batch': batchId, 'cutover:part': 'file', 'cutover:file': fileId };
}

