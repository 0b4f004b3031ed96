/**
 * SHA-256 (FIPS 180-4) of short text, in JavaScript: a CGI process that
 * hashes one session id this way saves the ~0.8 ms OpenSSL takes to start
 * on its first digest. A server, which hashes an id per request, turns to
 * node:crypto's one-shot `hash()` after its first few digests (about 0.5 µs
 * against 1.1 µs for an id): see {@link sha256Recent}.
 */
import { lazyCrypto } from './lazyCrypto.js';

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const W = new Int32Array(64);
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The padded message of a text of up to 119 ASCII characters: one block, or two; reused. */
const TWO_BLOCKS = new Uint8Array(128);
const ONE_BLOCK = TWO_BLOCKS.subarray(0, 64);
/** The digest's characters, reused. */
const OUT = new Uint8Array(43);

/**
 * `text` as UTF-8, with the padding after it: a 1 bit, zeros, and its
 * length in bits, to a whole number of 64-byte blocks. Short ASCII text (an
 * id) is written into a buffer kept for it, so a digest allocates only its
 * result.
 */
function padded(text: string): Uint8Array {
  const chars = text.length;
  let ascii = chars <= 119;
  for (let i = 0; ascii && i < chars; i++) ascii = text.charCodeAt(i) < 0x80;
  let message: Uint8Array;
  let n: number;
  if (ascii) {
    n = chars;
    message = n + 9 <= 64 ? ONE_BLOCK : TWO_BLOCKS;
    message.fill(0);
    for (let i = 0; i < n; i++) message[i] = text.charCodeAt(i);
  } else {
    const data = Buffer.from(text, 'utf8');
    n = data.length;
    message = new Uint8Array(Math.ceil((n + 9) / 64) * 64);
    message.set(data);
  }
  message[n] = 0x80;
  const end = message.length;
  const bitsHigh = Math.floor(n / 0x2000_0000);
  const bitsLow = (n * 8) >>> 0;
  for (let k = 0; k < 4; k++) {
    message[end - 8 + k] = (bitsHigh >>> (24 - 8 * k)) & 0xff;
    message[end - 4 + k] = (bitsLow >>> (24 - 8 * k)) & 0xff;
  }
  return message;
}

/**
 * The SHA-256 digest of `text` (as UTF-8), base64url-encoded (43 characters).
 * Plain arithmetic on typed arrays, no Buffer methods: in a CGI process it
 * runs once, in the interpreter, where each Buffer method's first call costs
 * more than the digest.
 *
 * @example
 * ```ts
 * sha256('abc'); // 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0'
 * ```
 */
export function sha256(text: string): string {
  const message = padded(text);
  const end = message.length;
  let h0 = 0x6a09e667, h1 = 0xbb67ae85 | 0, h2 = 0x3c6ef372, h3 = 0xa54ff53a | 0;
  let h4 = 0x510e527f, h5 = 0x9b05688c | 0, h6 = 0x1f83d9ab, h7 = 0x5be0cd19;
  for (let at = 0; at < end; at += 64) {
    for (let t = 0; t < 16; t++) {
      const i = at + t * 4;
      W[t] = (message[i]! << 24) | (message[i + 1]! << 16) | (message[i + 2]! << 8) | message[i + 3]!;
    }
    for (let t = 16; t < 64; t++) {
      const w15 = W[t - 15]!, w2 = W[t - 2]!;
      const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
      const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
      W[t] = (W[t - 16]! + s0 + W[t - 7]! + s1) | 0;
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (h + S1 + ch + K[t]! + W[t]!) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0;
      d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
  }
  return base64url(h0, h1, h2, h3, h4, h5, h6, h7);
}

/** The 32 bytes of eight big-endian words, base64url-encoded without padding (43 characters). */
function base64url(h0: number, h1: number, h2: number, h3: number, h4: number, h5: number, h6: number, h7: number): string {
  const words = [h0, h1, h2, h3, h4, h5, h6, h7];
  let out = 0;
  let bits = 0;
  let pending = 0;
  for (let i = 0; i < 32; i++) {
    pending = ((pending << 8) | ((words[i >> 2]! >>> (24 - 8 * (i & 3))) & 0xff)) & 0xffff;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      OUT[out++] = BASE64URL.charCodeAt((pending >>> bits) & 63);
    }
  }
  OUT[out] = BASE64URL.charCodeAt((pending << (6 - bits)) & 63);
  // One string made from the codes, not one per character appended.
  return String.fromCharCode.apply(null, OUT as unknown as number[]);
}

/**
 * The digests of the texts asked for lately, in two generations: a text is
 * looked up in the young one, then the old; when the young one is full it
 * becomes the old one. (A single map trimmed from its oldest end would walk
 * over every entry deleted before it to find that end, on each call.)
 *
 * A generation holds 2,048: the ids of a server's active visitors, asked
 * again at each of their requests, are found rather than hashed again (a
 * digest made amid a request's other work cost about 3 µs here, a tenth of
 * the memory store's request). 4,096 entries at most, each an id of 27
 * characters and a digest of 43: well under a megabyte.
 */
let young = new Map<string, string>();
let old = new Map<string, string>();
const GENERATION_MAX = 2048;

/** Digests made in JavaScript before node:crypto takes over: a CGI request makes one or two, a server thousands. */
const NATIVE_AFTER = 16;
let made = 0;
/** The digest function once chosen: node:crypto's `hash()`, or this module's where node has none. */
let digestOf: ((text: string) => string) | undefined;

function digestNow(text: string): string {
  if (digestOf) return digestOf(text);
  if (++made <= NATIVE_AFTER) return sha256(text);
  const crypto = lazyCrypto();
  digestOf = typeof crypto.hash === 'function' ? (t) => crypto.hash('sha256', t, 'base64url') : sha256;
  return digestOf(text);
}

/**
 * {@link sha256}, remembering the digests of the last 2,048 to 4,096 texts:
 * the same id is hashed to load, lock and save one request's session, and
 * again at the visitor's next request. After a process's first 16 digests,
 * node:crypto makes them (a CGI process never loads it for this; a server
 * hashes in half the time).
 */
export function sha256Recent(text: string): string {
  let digest = young.get(text);
  if (digest !== undefined) return digest;
  digest = old.get(text) ?? digestNow(text);
  if (young.size >= GENERATION_MAX) {
    old = young;
    young = new Map();
  }
  young.set(ownCopy(text), digest);
  return digest;
}

/**
 * The same text, holding nothing else alive. An id is cut from its request's
 * Cookie header, and V8 keeps a cut (a slice of 13 characters or more) as a
 * view of the whole string: kept as a key, it would keep the header, other
 * cookies and all, for as long as the entry lives. Joined to a character and
 * cut again, it is copied first.
 */
function ownCopy(text: string): string {
  return `${text} `.slice(0, -1);
}
