// Personal data inside free text (HTML stripped): the kinds found, never the values.
import { isIP } from 'node:net';
import type { SensitiveKind } from './pii-kinds';
import { DATE_SHAPES } from './pii-values';

const EMAIL_IN = /[A-Za-z0-9._%+'-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}/;
/** Phones inside text need a stronger shape than whole values: `+` and digits, `(area)`, a trunk `0`, or 3-3-4. */
const PHONE_IN = /\+\d{1,3}[\s.-]?\(?\d{1,4}\)?(?:[\s.-]?\d{2,4}){1,4}|\(\d{2,5}\)\s?\d{3,4}[\s.-]?\d{3,4}|\b0\d{1,4}[\s.-]?\d{3,4}[\s.-]?\d{3,4}\b|\b\d{3}[.-]\d{3}[.-]\d{4}\b/g;
const SSN_IN = /\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b/;
const NINO_IN = /\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b/;
const IPV4_IN = /\b(?:\d{1,3}\.){3}\d{1,3}\b/g;
/** Runs of hex digits and colons: a plain character class keeps the scan linear; `isIP` decides. */
const IPV6_IN = /[0-9A-Fa-f:]{6,39}/g;
/** Longer values are read only this far: enough to find what a note holds, bounded time per value. */
export const MAX_TEXT = 20_000;
/** Text longer than this is not parsed as a JSON document (it is searched as text). */
export const MAX_PARSE = 262_144;

/** The kinds inside a text, in {@link SENSITIVE_KINDS} order. */
export function kindsInside(text: string): SensitiveKind[] {
  const found: SensitiveKind[] = [];
  if (text.includes('@') && EMAIL_IN.test(text)) found.push('email');
  const digits = countDigits(text);
  if (digits >= 7) {
    for (const m of text.matchAll(PHONE_IN)) {
      const n = countDigits(m[0]);
      if (n >= 7 && n <= 15 && !DATE_SHAPES.some((d) => d.test(m[0].trim()))) {
        found.push('phone');
        break;
      }
    }
  }
  if (hasIp(text)) found.push('ip_address');
  if (digits >= 6 && (SSN_IN.test(text) || NINO_IN.test(text))) found.push('national_id');
  return found;
}

function hasIp(text: string): boolean {
  if (text.includes('.')) for (const m of text.matchAll(IPV4_IN)) if (isIP(m[0]) === 4) return true;
  if (text.includes(':')) {
    for (const m of text.matchAll(IPV6_IN)) {
      // A colon of the sentence around it (`at fe80::1: ...`) is not the address's.
      let c = m[0];
      if (c.startsWith(':') && !c.startsWith('::')) c = c.slice(1);
      if (c.endsWith(':') && !c.endsWith('::')) c = c.slice(0, -1);
      if (c.length >= 6 && countHex(c) >= 4 && isIP(c) === 6) return true;
    }
  }
  return false;
}

function countDigits(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) n++;
  }
  return n;
}

function countHex(s: string): number {
  return s.replace(/[^0-9A-Fa-f]/g, '').length;
}

const ENTITIES: Record<string, string> = { nbsp: ' ', amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", commat: '@', period: '.' };

/**
 * Text without HTML: a tag becomes its attributes' text (an address in `href="mailto:…"` is as
 * personal as one in the body), entities are decoded (`&#64;` is `@`).
 */
export function stripHtml(s: string): string {
  if (!s.includes('<') && !s.includes('&')) return s;
  return s
    .replace(/<!--[\s\S]{0,20000}?-->/g, ' ')
    .replace(/<\/?[A-Za-z][A-Za-z0-9-]*([^>]{0,2000})>/g, (_m, attrs: string) => ` ${attrs.replace(/["'=/]/g, ' ')} `)
    .replace(/&(#x[0-9a-f]{1,6}|#\d{1,7}|[a-z]{2,8});/gi, (m, e: string) => {
      if (e[0] !== '#') return ENTITIES[e.toLowerCase()] ?? m;
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : m;
    });
}
