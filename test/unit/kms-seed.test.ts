import { parse } from 'yaml';
import { kmsSeedYaml } from '../../src/stack/kms-seed';

describe('local-kms seed', () => {
  it('declares one AES key per alias and points each alias at its key', () => {
    const seed = parse(
      kmsSeedYaml({
        'alias/b': { keyId: '22222222-2222-2222-2222-222222222222', backingKeyHex: 'bb'.repeat(32) },
        'alias/a': { keyId: '11111111-1111-1111-1111-111111111111', backingKeyHex: 'aa'.repeat(32) },
      }),
    );
    expect(seed.Keys.Symmetric.Aes).toEqual([
      { Metadata: { KeyId: '11111111-1111-1111-1111-111111111111', Description: 'alias/a (cutover local stack)' }, BackingKeys: ['aa'.repeat(32)] },
      { Metadata: { KeyId: '22222222-2222-2222-2222-222222222222', Description: 'alias/b (cutover local stack)' }, BackingKeys: ['bb'.repeat(32)] },
    ]);
    expect(seed.Aliases).toEqual([
      { AliasName: 'alias/a', TargetKeyId: '11111111-1111-1111-1111-111111111111' },
      { AliasName: 'alias/b', TargetKeyId: '22222222-2222-2222-2222-222222222222' },
    ]);
  });
});
