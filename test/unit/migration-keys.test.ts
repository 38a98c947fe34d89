import { randomBytes } from 'node:crypto';
import { open, seal } from '../../src/core/envelope';
import { migrationSubkey, ownSealingKeys, sharedSealingKeys, wrappedKeyFingerprint } from '../../src/core/migration-keys';
import { openSealedTokens, sealTokens } from '../../src/core/sealed-tokens';
import { keysShredded } from '../../src/crypto/migration-key-ring';
import { StagingCipher } from '../../src/crypto/staging-cipher';

describe('per-migration keys', () => {
  const root = randomBytes(32);

  it('derives one subkey per purpose and migration, the same every time', () => {
    const a = ownSealingKeys(root, 'm-a');
    expect(ownSealingKeys(root, 'm-a').preimage).toEqual(a.preimage);
    const subkeys = [a.preimage, a.quarantine, a.staging!, migrationSubkey(root, 'm-b', 'preimage'), migrationSubkey(randomBytes(32), 'm-a', 'preimage')].map((k) => k.toString('hex'));
    expect(new Set(subkeys).size).toBe(subkeys.length);
    expect(migrationSubkey(root, 'm-a', 'sealed-token')).toHaveLength(64);
    expect(a.staging).toHaveLength(32);
    expect(a.own).toBe(true);
  });

  it("seals a migration's data so that neither another migration's keys nor the shared keys open it", () => {
    const own = ownSealingKeys(root, 'm-a');
    const other = ownSealingKeys(root, 'm-b');
    const shared = sharedSealingKeys({ vault: randomBytes(32), token: randomBytes(32) });
    const sealed = seal(Buffer.from('pre-image'), own.preimage, 'aad');
    expect(open(sealed, own.preimage, 'aad', 'x').toString()).toBe('pre-image');
    expect(() => open(sealed, other.preimage, 'aad', 'x')).toThrow(/integrity/);
    expect(() => open(sealed, shared.preimage, 'aad', 'x')).toThrow(/integrity/);
    const tokens = sealTokens(own.sealedToken, 'm-a', [{ kind: 'email', value: 'ada@example.org' }]);
    const [token] = [...tokens.values()];
    expect(openSealedTokens(own.sealedToken, 'm-a', [token!]).get(token!)).toBe('ada@example.org');
    expect(() => openSealedTokens(shared.sealedToken, 'm-a', [token!])).toThrow(/do not open/);
    expect(shared.own).toBe(false);
    expect(shared.staging).toBeUndefined();
  });

  it('names a wrapped key by a fingerprint that does not reveal it', () => {
    const wrapped = randomBytes(184);
    expect(wrappedKeyFingerprint(wrapped)).toMatch(/^[0-9a-f]{32}$/);
    expect(wrappedKeyFingerprint(wrapped)).toBe(wrappedKeyFingerprint(Buffer.from(wrapped)));
    expect(wrappedKeyFingerprint(randomBytes(184))).not.toBe(wrappedKeyFingerprint(wrapped));
  });

  describe('staging under the migration key (no KMS call per object)', () => {
    const kms = undefined as never; // never called with an own key: any KMS call would throw
    const cipherOf = (name: string, key: Buffer) => new StagingCipher(kms, 'alias/unused', async () => ({ name, key }));
    const ctx = { 'cutover:migration': 'm-a' };

    it('round-trips, and refuses another migration key or another name', async () => {
      const key = ownSealingKeys(root, 'm-a').staging!;
      const body = await cipherOf('m-a', key).encrypt(Buffer.from('rows'), ctx);
      expect((await cipherOf('m-a', key).decrypt(body, ctx, 'rows')).toString()).toBe('rows');
      await expect(cipherOf('m-a', ownSealingKeys(root, 'm-b').staging!).decrypt(body, ctx, 'rows')).rejects.toThrow(/integrity check failed: rows/);
      await expect(cipherOf('m-b', key).decrypt(body, ctx, 'rows')).rejects.toThrow(/integrity check failed: rows/);
    });

    it('passes a shredded key through as such, not as tampering', async () => {
      const shredded = new StagingCipher(kms, 'alias/unused', async () => {
        throw keysShredded('m-a', { shreddedAt: '2026-12-06T00:00:00.000Z', shreddedBy: 'ops' }, 'its data can no longer be sealed or opened');
      });
      await expect(shredded.decrypt(Buffer.from('x'), ctx, 'rows')).rejects.toMatchObject({ type: 'MigrationKeysShredded', nonRetryable: true, message: expect.stringContaining('shredded by ops') });
      await expect(shredded.encrypt(Buffer.from('x'), ctx)).rejects.toMatchObject({ type: 'MigrationKeysShredded' });
    });
  });
});
