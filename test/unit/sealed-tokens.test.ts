import { isSealedToken, openSealedTokens, sealedTokenKey, sealTokens } from '../../src/core/sealed-tokens';
import { valueId } from '../../src/core/token-assignment';
import { looksLikeToken } from '../../src/core/tokens';

const key = sealedTokenKey(Buffer.alloc(32, 7));

describe('sealed tokens (values the target gets in clear)', () => {
  const values = [
    { kind: 'email' as const, value: 'ada@example.org' },
    { kind: 'name' as const, value: 'Ada' },
    { kind: 'text' as const, value: 'Ada' },
    { kind: 'phone' as const, value: '+44 20 7946 0000' },
    { kind: 'text' as const, value: 'ünïcødé, ✓' },
  ];

  it('open back to their values, in one batch', () => {
    const tokens = sealTokens(key, 'm-1', values);
    expect(tokens.size).toBe(values.length);
    const opened = openSealedTokens(key, 'm-1', tokens.values());
    for (const v of values) expect(opened.get(tokens.get(valueId(v.kind, v.value))!)).toBe(v.value);
  });

  it('are one per value: equal values equal tokens, equal strings of other kinds other tokens, 20,000 values 20,000 tokens', () => {
    const again = sealTokens(key, 'm-1', [...values, ...values]);
    expect([...again.values()]).toEqual([...sealTokens(key, 'm-1', values).values()]);
    const t = sealTokens(key, 'm-1', values);
    expect(t.get(valueId('name', 'Ada'))).not.toBe(t.get(valueId('text', 'Ada')));
    const many = sealTokens(key, 'm-1', Array.from({ length: 20_000 }, (_, i) => ({ kind: 'phone' as const, value: `+44 ${i}` })));
    expect(new Set(many.values()).size).toBe(20_000);
  });

  it('are bound to their migration and key: another migration or key neither matches nor opens them', () => {
    const a = sealTokens(key, 'm-1', values);
    const b = sealTokens(key, 'm-2', values);
    for (const [id, token] of a) expect(b.get(id)).not.toBe(token);
    expect(() => openSealedTokens(key, 'm-2', a.values())).toThrow(`integrity check failed: ${values.length} sealed token(s) do not open`);
    expect(() => openSealedTokens(sealedTokenKey(Buffer.alloc(32, 8)), 'm-1', a.values())).toThrow('sealed token(s) do not open');
  });

  it('carry no value in clear, are one word of hex after their prefix, are told apart from vault tokens, and no vault token shape is one', () => {
    for (const token of sealTokens(key, 'm-1', values).values()) {
      expect(token).toMatch(/^siv1\.[0-9a-f]+$/);
      expect(isSealedToken(token)).toBe(true);
      for (const v of values) expect(token).not.toContain(v.value);
      for (const kind of ['email', 'phone', 'name', 'text'] as const) expect(looksLikeToken(kind, token)).toBe(false);
    }
    for (const vaultToken of ['u0123456789abcdef01234567@token.invalid', '+9990123456789', 'Tok0123456789ab', 'tok_0123456789abcdef0123456789abcdef']) expect(isSealedToken(vaultToken)).toBe(false);
  });

  it('a changed token fails by count, naming neither token nor value', () => {
    const [token] = sealTokens(key, 'm-1', [values[0]!]).values();
    const changed = `${token!.slice(0, 10)}${token![10] === '0' ? '1' : '0'}${token!.slice(11)}`;
    let message = '';
    try {
      openSealedTokens(key, 'm-1', [changed]);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe("integrity check failed: 1 sealed token(s) do not open under this migration's token key (tampered, or sealed for another migration)");
  });
});
