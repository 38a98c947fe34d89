import { regionOfArn, residencyRequirements, residencyViolations, ResidencyFacts } from '../../src/core/residency';

const inFrankfurt: ResidencyFacts = {
  bucket: { name: 'staging-eu', region: 'eu-central-1' },
  keys: [
    { field: 'keys.staging', key: 'alias/cutover-staging', arn: 'arn:aws:kms:eu-central-1:111122223333:key/aaaa', region: 'eu-central-1' },
    { field: 'keys.vault', key: 'alias/cutover-vault', arn: 'arn:aws:kms:eu-central-1:111122223333:key/bbbb', region: 'eu-central-1' },
  ],
  clients: [
    { service: 'S3', region: 'eu-central-1' },
    { service: 'KMS', region: 'eu-central-1' },
  ],
};

describe('residency (pure)', () => {
  it("reads a region from an ARN, and nothing from what is not one", () => {
    expect(regionOfArn('arn:aws:kms:eu-central-1:111122223333:key/aaaa')).toBe('eu-central-1');
    expect(regionOfArn('alias/cutover-staging')).toBeUndefined();
    expect(regionOfArn(undefined)).toBeUndefined();
  });

  it('takes the plan\'s region and each entity\'s own, named by their fields', () => {
    expect(residencyRequirements({ residency: { region: 'eu-central-1' }, entities: [{ name: 'users' }, { name: 'xapi', residency: { region: 'eu-west-1' } }] })).toEqual([
      { path: 'residency.region', region: 'eu-central-1' },
      { path: 'entities.xapi.residency.region', region: 'eu-west-1' },
    ]);
    expect(residencyRequirements({ entities: [{ name: 'users' }] })).toEqual([]);
  });

  it('passes when everything is in the region', () => {
    expect(residencyViolations([{ path: 'residency.region', region: 'eu-central-1' }], inFrankfurt)).toEqual([]);
  });

  it('refuses each kind apart, naming the field and what breaks it: the bucket, a key, a key of unknown region, a client', () => {
    const req = [{ path: 'residency.region', region: 'eu-central-1' }];
    expect(residencyViolations(req, { ...inFrankfurt, bucket: { name: 'staging-us', region: 'us-east-1' } })).toEqual([
      { path: 'residency.region', message: 'residency.region is eu-central-1, but the staging bucket staging-us is in us-east-1' },
    ]);
    const usKey = { field: 'keys.vault', key: 'alias/cutover-vault', arn: 'arn:aws:kms:us-east-1:111122223333:key/bbbb', region: 'us-east-1' };
    expect(residencyViolations(req, { ...inFrankfurt, keys: [inFrankfurt.keys[0]!, usKey] })).toEqual([
      { path: 'residency.region', message: 'residency.region is eu-central-1, but the KMS key alias/cutover-vault (keys.vault) is in us-east-1 (arn:aws:kms:us-east-1:111122223333:key/bbbb)' },
    ]);
    expect(residencyViolations(req, { ...inFrankfurt, keys: [{ field: 'keys.staging', key: 'alias/x' }] })[0]!.message).toBe('residency.region is eu-central-1, but the region of the KMS key alias/x (keys.staging) cannot be told: KMS gave no ARN for it');
    expect(residencyViolations(req, { ...inFrankfurt, clients: [{ service: 'S3', region: 'eu-central-1' }, { service: 'KMS', region: 'us-west-2', endpoint: 'https://kms.us-west-2.amazonaws.com' }] })).toEqual([
      { path: 'residency.region', message: "residency.region is eu-central-1, but the worker's KMS client is configured for us-west-2 (endpoint https://kms.us-west-2.amazonaws.com): AWS_REGION, or the stack's region" },
    ]);
  });

  it("holds an entity to its own region, apart from the plan's", () => {
    const v = residencyViolations([{ path: 'entities.xapi.residency.region', region: 'eu-west-1' }], inFrankfurt);
    expect(v.length).toBe(5);
    expect(v.every((x) => x.path === 'entities.xapi.residency.region')).toBe(true);
  });
});
