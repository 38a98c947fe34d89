import { stackUp } from '../../src/stack/stack';

/** Brings the real stack up (idempotent: a no-op when `npm test` already did). */
export default async function globalSetup(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  await stackUp(process.env, (line) => console.log(`stack: ${line}`));
}
