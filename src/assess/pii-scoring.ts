// How much evidence a finding needs and how sure it is: shares of the sample, Wilson's lower bound.

/** The share of sampled non-empty values a whole-value kind (email, phone, ...) needs. */
export const WHOLE_VALUE_SHARE = 0.3;
/** Free text needs this many values containing personal data, or {@link FREE_TEXT_SHARE} of them. */
export const FREE_TEXT_MIN_MATCHES = 2;
export const FREE_TEXT_SHARE = 0.05;

export function mostlyUnique(matched: number, distinct: number): boolean {
  return matched < 5 || distinct / matched >= 0.5;
}

/**
 * The lower bound of the 95 % Wilson interval of a share: small samples count for less, so a
 * confidence built on it grows with both the share and the sample's size.
 */
export function wilsonLow(k: number, n: number): number {
  if (n === 0) return 0;
  const z = 1.96;
  const p = k / n;
  const d = 1 + (z * z) / n;
  const centre = p + (z * z) / (2 * n);
  const margin = z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  return Math.max(0, (centre - margin) / d);
}

export function round(x: number): number {
  return Math.round(x * 100) / 100;
}
