import assert from 'node:assert/strict';
import { csrfTokenMatches, makeCsrfToken } from '../../../src/service/csrf/csrfToken.js';
import { sha256 } from '../../../src/util/sha256.js';

describe('CSRF tokens', () => {
  const id = 'A1b2C3d4E5f6G7h8I9j0K1l2M3n';

  it('differ on every call (a fresh mask), and every one matches its session', () => {
    const tokens = new Set(Array.from({ length: 50 }, () => makeCsrfToken(id)));
    assert.equal(tokens.size, 50);
    for (const t of tokens) {
      assert.match(t, /^[A-Za-z0-9_-]{64}$/);
      assert.equal(csrfTokenMatches(t, id), 'ok');
    }
  });

  it('do not match another session, nor a token with one bit changed', () => {
    const token = makeCsrfToken(id);
    assert.equal(csrfTokenMatches(token, `${id.slice(0, -1)}x`), 'mismatch');
    const bytes = Buffer.from(token, 'base64url');
    bytes[30]! ^= 1;
    assert.equal(csrfTokenMatches(bytes.toString('base64url'), id), 'mismatch');
  });

  it('call anything not 64 base64url characters malformed', () => {
    for (const bad of ['', 'x', makeCsrfToken(id).slice(1), `${makeCsrfToken(id)}A`, `${makeCsrfToken(id).slice(1)}+`, ' '.repeat(64)]) {
      assert.equal(csrfTokenMatches(bad, id), 'malformed', JSON.stringify(bad));
    }
  });

  it('hold neither the id nor the store key made of it', () => {
    const token = makeCsrfToken(id);
    const raw = Buffer.from(token, 'base64url');
    assert.ok(!token.includes(id));
    assert.ok(!raw.includes(Buffer.from(sha256(id).slice(0, 16))));
  });
});
