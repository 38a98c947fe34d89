import { codecAllowedOrigins, configuredUrls, logLevel, metricsAddress, planConnectionUrl, syncSlotWaitSeconds, workflowBundlePath } from '../../src/config';

const databases = { sourceUrl: 'postgres://stack/src', targetUrl: 'postgres://stack/tgt', controlUrl: 'postgres://stack/ctl' };

describe('settings read where they are used (config.ts)', () => {
  it("a plan's url_env resolves to its variable, else the configured database only for Cutover's own variable of that role", () => {
    const target = configuredUrls({ databases }, 'target');
    expect(planConnectionUrl('CUTOVER_TARGET_URL', target, { CUTOVER_TARGET_URL: 'postgres://env/tgt' })).toBe('postgres://env/tgt');
    expect(planConnectionUrl('CUTOVER_TARGET_URL', target, {})).toBe('postgres://stack/tgt');
    expect(planConnectionUrl('CUTOVER_TARGET_URL', target, { CUTOVER_TARGET_URL: '' })).toBe('postgres://stack/tgt');
    expect(planConnectionUrl('CUTOVER_SOURCE_URL', target, {})).toBeUndefined();
    expect(planConnectionUrl('LEGACY_URL', configuredUrls({ databases }, 'source', 'target', 'control'), {})).toBeUndefined();
    expect(planConnectionUrl('LEGACY_URL', {}, { LEGACY_URL: 'postgres://legacy' })).toBe('postgres://legacy');
  });

  it('CUTOVER_LOG_LEVEL is one of the runtime levels, named when it is not', () => {
    expect(logLevel({})).toBeUndefined();
    expect(logLevel({ CUTOVER_LOG_LEVEL: 'WARN' })).toBe('WARN');
    expect(() => logLevel({ CUTOVER_LOG_LEVEL: 'loud' })).toThrow(/^CUTOVER_LOG_LEVEL: expected one of TRACE, DEBUG, INFO, WARN, ERROR, got "loud"$/);
  });

  it('CUTOVER_METRICS_ADDRESS is host:port or off', () => {
    expect(metricsAddress({})).toBeUndefined();
    expect(metricsAddress({ CUTOVER_METRICS_ADDRESS: 'off' })).toBe('off');
    expect(metricsAddress({ CUTOVER_METRICS_ADDRESS: '0.0.0.0:9500' })).toBe('0.0.0.0:9500');
    expect(() => metricsAddress({ CUTOVER_METRICS_ADDRESS: '9500' })).toThrow(/^CUTOVER_METRICS_ADDRESS: expected host:port or off/);
  });

  it('CUTOVER_SYNC_SLOT_WAIT_SECONDS: a positive number, else the 30 s default (an activity does not fail on it)', () => {
    expect(syncSlotWaitSeconds({})).toBe(30);
    expect(syncSlotWaitSeconds({ CUTOVER_SYNC_SLOT_WAIT_SECONDS: '5' })).toBe(5);
    expect(syncSlotWaitSeconds({ CUTOVER_SYNC_SLOT_WAIT_SECONDS: '-1' })).toBe(30);
    expect(syncSlotWaitSeconds({ CUTOVER_SYNC_SLOT_WAIT_SECONDS: 'soon' })).toBe(30);
  });

  it('the codec server origins and the worker bundle', () => {
    expect(codecAllowedOrigins({})).toBeUndefined();
    expect(codecAllowedOrigins({ CUTOVER_CODEC_ALLOWED_ORIGINS: 'http://a:1, https://b ,' })).toEqual(['http://a:1', 'https://b']);
    expect(workflowBundlePath({})).toBeUndefined();
    expect(workflowBundlePath({ CUTOVER_WORKFLOW_BUNDLE: '/tmp/b.js' })).toBe('/tmp/b.js');
  });
});
