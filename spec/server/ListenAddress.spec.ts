import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { UsageError } from '../../src/cli/args.js';
import { describeAddress, parseListenAddress, parseSocketMode } from '../../src/server/ListenAddress.js';

describe('parseListenAddress', () => {
  it('reads a unix socket, making a relative path absolute, with the mode given', () => {
    assert.deepEqual(parseListenAddress('unix:/run/pso/app.sock'), { kind: 'unix', path: '/run/pso/app.sock', mode: 0o660 });
    assert.deepEqual(parseListenAddress('unix:app.sock', 0o600), { kind: 'unix', path: resolve('app.sock'), mode: 0o600 });
  });

  it('reads HOST:PORT, [IPv6]:PORT and a bare PORT (on 127.0.0.1)', () => {
    assert.deepEqual(parseListenAddress('0.0.0.0:8080'), { kind: 'tcp', host: '0.0.0.0', port: 8080 });
    assert.deepEqual(parseListenAddress('localhost:80'), { kind: 'tcp', host: 'localhost', port: 80 });
    assert.deepEqual(parseListenAddress('[::1]:8443'), { kind: 'tcp', host: '::1', port: 8443 });
    assert.deepEqual(parseListenAddress('9000'), { kind: 'tcp', host: '127.0.0.1', port: 9000 });
  });

  for (const bad of ['', 'unix:', ':8080', 'host:', 'host:http', 'host:70000', '::1:80', 'a:b:c']) {
    it(`refuses ${JSON.stringify(bad)} with a UsageError`, () => {
      assert.throws(() => parseListenAddress(bad), UsageError);
    });
  }
});

describe('parseSocketMode', () => {
  it('reads octal with or without a leading 0 or 0o', () => {
    assert.equal(parseSocketMode('0660'), 0o660);
    assert.equal(parseSocketMode('666'), 0o666);
    assert.equal(parseSocketMode('0o600'), 0o600);
  });

  it('refuses what is not octal, and modes that shut the owner out', () => {
    assert.throws(() => parseSocketMode('rw-rw----'), /in octal/);
    assert.throws(() => parseSocketMode('0999'), /in octal/);
    assert.throws(() => parseSocketMode('0066'), /lock the server out of its own socket/);
  });
});

describe('describeAddress', () => {
  it('writes addresses as they are typed', () => {
    assert.equal(describeAddress({ kind: 'tcp', host: '127.0.0.1', port: 80 }), '127.0.0.1:80');
    assert.equal(describeAddress({ kind: 'tcp', host: '::1', port: 80 }), '[::1]:80');
    assert.equal(describeAddress({ kind: 'unix', path: '/run/a.sock', mode: 0o660 }), 'unix:/run/a.sock');
  });
});
