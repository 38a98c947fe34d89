import { failedComponents, renderTable } from '../../src/doctor/table';

describe('doctor table', () => {
  const results = [
    { component: 'Temporal', check: 'reachable', ok: true, detail: 'server 1.29.1' },
    { component: 'S3 (MinIO)', check: 'staging bucket', ok: false, detail: 'connection refused', fix: 'run stack up' },
    { component: 'S3 (MinIO)', check: 'other', ok: false, detail: 'x' },
    { component: 'KMS', check: 'aliases', ok: false, detail: 'missing alias/x' },
  ];

  it('lists failed components once each, in order', () => {
    expect(failedComponents(results)).toEqual(['S3 (MinIO)', 'KMS']);
    expect(failedComponents(results.slice(0, 1))).toEqual([]);
  });

  it('shows FAIL with the fix for a failing check, in aligned columns', () => {
    const lines = renderTable(results).split('\n');
    expect(lines[0]).toMatch(/^COMPONENT\s+CHECK\s+STATUS\s+DETAIL$/);
    expect(lines[3]).toMatch(/^S3 \(MinIO\)\s+staging bucket\s+FAIL\s+connection refused — run stack up$/);
    expect(lines[2]!.indexOf('ok')).toBe(lines[3]!.indexOf('FAIL'));
  });
});
