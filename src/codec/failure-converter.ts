import { DefaultFailureConverter } from '@temporalio/common';

/**
 * Failure messages and stack traces go into history too: encode them as payloads, so the
 * codec encrypts them like everything else. Loaded by path on the client and in the workflow
 * sandbox (see data-converter.ts).
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
