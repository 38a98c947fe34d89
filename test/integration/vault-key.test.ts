import { planHash } from '../../src/plan/hash';
import type { Plan } from '../../src/plan/types';
import { isolated, Isolated, planFor, testStores, TestStores } from './helpers';

/** `keys.vault` in a plan: the KMS key this control database's vault (and token keys) must be under. */
describe("a plan's keys.vault", () => {
  let env: Isolated;
  let ctx: TestStores;
  const withVault = (vault: string | undefined): Plan => {
    const plan = planFor(`it-vaultkey-${Date.now().toString(36)}`);
    return { ...plan, keys: { ...plan.keys, vault } };
  };

  beforeAll(async () => {
    env = await isolated('vaultkey');
    ctx = testStores(env.config);
  });

  afterAll(async () => {
    await ctx?.close();
    await env?.cleanup();
  });

  it("is checked where the vault key is obtained: the vault's own key passes, any other key is refused before a key is used", async () => {
    const bind = (vault: string | undefined) => {
      const plan = withVault(vault);
      return ctx.plans.bind(plan, planHash(plan));
    };
    // Before any key exists: the worker would generate them under its own alias, so only that one passes.
    await expect(bind('alias/cutover-staging').vaultKey()).rejects.toMatchObject({
      type: 'PlanMismatch',
      nonRetryable: true,
      message: expect.stringMatching(/^keys\.vault alias\/cutover-staging: the worker generates the vault's keys under alias\/cutover-vault \(arn:.*\), not under arn:.*: set CUTOVER_KMS_ALIAS_VAULT=alias\/cutover-staging for the worker$/),
    });
    const vaultKey = await ctx.deps.keys.get('vault');
    await Promise.all([ctx.deps.keys.get('token'), ctx.deps.keys.get('digest')]);

    expect(await bind(undefined).vaultKey()).toEqual(vaultKey);
    expect(await bind(env.config.kms.aliases.vault).vaultKey()).toEqual(vaultKey);
    // The same key named by its ARN is the same key.
    const arn = (await ctx.deps.control('cutover.data_keys').where({ purpose: 'vault' }).first()).kms_key_id as string;
    expect(arn).toMatch(/^arn:/);
    expect(await bind(arn).vaultKey()).toEqual(vaultKey);

    // Once the keys exist, they are what is compared: wrapped by the vault alias's key, not the plan's.
    await expect(bind('alias/cutover-staging').vaultKey()).rejects.toMatchObject({
      type: 'PlanMismatch',
      message: expect.stringMatching(/^keys\.vault alias\/cutover-staging: this control database's (token|digest|vault) key is wrapped by KMS key arn:.*, not by arn:.*; the vault is shared by every migration on the control database and has one key/),
    });
    await expect(bind('alias/cutover-no-such-key').vaultKey()).rejects.toMatchObject({ type: 'PlanMismatch', message: 'keys.vault alias/cutover-no-such-key: KMS has no such key or alias' });
  });
});
