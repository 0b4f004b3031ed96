// Shared generators of hostile text for the fuzz targets.
import fc from 'fast-check';

/** Text of any code units: lone surrogates, controls, NUL included. */
export const anyText = (maxLength = 64) => fc.string({ unit: 'binary', maxLength });

/** Text made of `pieces` and of anything, joined: near-misses of a format more often than noise. */
export function textOf(pieces: readonly string[], maxParts = 12): fc.Arbitrary<string> {
  return fc
    .array(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...pieces) }, { weight: 1, arbitrary: anyText(4) }), { maxLength: maxParts })
    .map((parts) => parts.join(''));
}

/** Whitespace a value may be wrapped in, quotes included (directives are trimmed and unquoted). */
export const wrapping = fc.constantFrom('', ' ', '\t', '"', "'", '\u00a0', '\n', '\r\n', '\u2028');

/** A value, maybe wrapped and padded. */
export function wrapped(inner: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.tuple(wrapping, inner, wrapping).map(([a, s, b]) => `${a}${s}${b}`);
}

/** Numbers as people and attackers write them. */
export const numberText = fc.oneof(
  fc.nat().map(String),
  fc.integer().map(String),
  fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String),
  fc.double().map(String),
  fc.constantFrom('9007199254740991', '9007199254740992', '1e3', '0x10', '0b1', '1_000', '٣', '１', 'Infinity', 'NaN', '-0', '00', ''),
);
