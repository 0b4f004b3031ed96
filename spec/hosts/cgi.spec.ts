import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { CgiRequest, ServiceHandler, type ServiceRequest } from '../../src/index.js';
import { MemoryLogger } from '../support/memoryLogger.js';

function capture() {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => (text += d));
  return { out, text: () => text };
}

describe('CgiRequest', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'pso-cgi-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function request(env: NodeJS.ProcessEnv) {
    const c = capture();
    const req = new CgiRequest({ env: { PSOSessionFileLoader_Path: dir, ...env }, stdout: c.out, moduleName: 'cgi', logger: new MemoryLogger() });
    return { req, text: c.text };
  }

  it('reads method, path, query and headers from RFC 3875 variables', () => {
    const { req } = request({
      REQUEST_METHOD: 'post', SCRIPT_NAME: '/cgi-bin/app.cgi', PATH_INFO: '/items/3', QUERY_STRING: 'a=1&b=2',
      CONTENT_TYPE: 'application/x-www-form-urlencoded', CONTENT_LENGTH: '', HTTP_USER_AGENT: 'spec', HTTP_X_FORWARDED_FOR: '10.0.0.1',
    });
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/cgi-bin/app.cgi/items/3');
    assert.equal(req.queryString, 'a=1&b=2');
    assert.equal(req.getRequestHeader('Content-Type'), 'application/x-www-form-urlencoded');
    assert.equal(req.getRequestHeader('content-length'), undefined, 'an empty CONTENT_LENGTH is no length');
    assert.equal(req.getRequestHeader('User-Agent'), 'spec');
    assert.equal(req.getRequestHeader('X-Forwarded-For'), '10.0.0.1');
    assert.equal(req.persistent, false);
  });

  it('knows HTTPS from HTTPS=on or REQUEST_SCHEME=https', () => {
    assert.equal(request({ HTTPS: 'on' }).req.isSecure(), true);
    assert.equal(request({ REQUEST_SCHEME: 'https' }).req.isSecure(), true);
    assert.equal(request({}).req.isSecure(), false);
  });

  it('answers with a Status header, CRLF-terminated header lines, a blank line and the body', async () => {
    const { req, text } = request({ REQUEST_METHOD: 'GET' });
    await new ServiceHandler().handle(req, (r: ServiceRequest) => { r.setStatus(201); r.setHeader('X-A', 'b'); r.write('made'); });
    const out = text();
    assert.match(out, /^Status: 201 Created\r\nX-A: b\r\nContent-Type: text\/html; charset=utf-8\r\nContent-Length: 4\r\nSet-Cookie: cgi=[A-Za-z0-9_-]{27}; Path=\/; HttpOnly; SameSite=Lax\r\n\r\nmade$/);
  });

  it('marks the session cookie Secure on HTTPS', async () => {
    const { req, text } = request({ REQUEST_METHOD: 'GET', HTTPS: 'on' });
    await new ServiceHandler().handle(req, (r: ServiceRequest) => r.write('x'));
    assert.match(text(), /Set-Cookie: cgi=[^\r]*; Secure/);
  });

  it('sends no body for HEAD', async () => {
    const { req, text } = request({ REQUEST_METHOD: 'HEAD' });
    await new ServiceHandler().handle(req, (r: ServiceRequest) => r.write('hidden'));
    assert.match(text(), /Content-Length: 6\r\n/);
    assert.doesNotMatch(text(), /hidden/);
  });
});
