import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CookieJar, runCgi, runScript, sample, startServer, type ServerProcess } from '../support/http.js';

/** `-D NAME=value` arguments of `pso serve`. */
const directiveArgs = (d: Record<string, string>) => Object.entries(d).flatMap(([k, v]) => ['-D', `${k}=${v}`]);

describe('samples of the request bridge (form, upload, redirect)', function () {
  this.timeout(30_000);
  let dir: string;
  let env: Record<string, string>;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pso-bridge-samples-'));
    env = { PSOSessionFileLoader_Path: join(dir, 'sessions'), PSOUploadDir: dir, PSOUploadStore: join(dir, 'store'), PSOSessionGCProbability: '0' };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  describe('form.ts', () => {
    it('as a CGI process: reads the query, an urlencoded body and repeated fields', async () => {
      const get = await runCgi(sample('form'), { ...env, QUERY_STRING: 'name=Ada&color=red&color=blue' });
      assert.equal(get.status, 200, get.stderr);
      assert.match(get.body, /<p id="hello">Hello Ada!<\/p>/);
      assert.match(get.body, /<p id="colors">red, blue<\/p>/);
      assert.match(get.body, /<p id="both">name and color<\/p>/);
      const body = 'name=%C3%89mile&color=blue';
      const post = await runCgi(sample('form'), { ...env, REQUEST_METHOD: 'POST', CONTENT_TYPE: 'application/x-www-form-urlencoded', CONTENT_LENGTH: String(body.length) }, body);
      assert.match(post.body, /Hello Émile!/);
      assert.match(post.body, /<pre id="form">\{&#34;name&#34;:\[&#34;Émile&#34;\],&#34;color&#34;:\[&#34;blue&#34;\]\}<\/pre>/);
    });

    it('as a script: -d and -F make the POST body', async () => {
      const d = await runScript(sample('form'), ['-d', 'name=Ada&color=red'], env);
      assert.match(d.body, /Hello Ada!/);
      assert.match(d.body, /<p id="colors">red<\/p>/);
      const f = await runScript(sample('form'), ['-F', 'name=Grace', '-F', 'color=red', '-F', 'color=blue'], env);
      assert.match(f.body, /Hello Grace!/);
      assert.match(f.body, /<p id="colors">red, blue<\/p>/);
      const none = await runScript(sample('form'), [], env);
      assert.match(none.body, /<form method="post">/);
    });

    it('under pso serve: a multipart POST with unicode', async () => {
      const server = await startServer(sample('form'), directiveArgs(env));
      try {
        const form = new FormData();
        form.append('name', '日本');
        form.append('color', 'red');
        const res = await fetch(server.url, { method: 'POST', body: form });
        assert.match(await res.text(), /Hello 日本!/);
      } finally {
        await server.stop();
      }
    });
  });

  describe('upload.ts', () => {
    const content = randomBytes(300_000);
    const check = (body: string, filename: string) => {
      assert.match(body, new RegExp(`<p id="got">${filename}: ${content.byteLength} bytes of application/octet-stream</p>`));
      const stored = /<p id="stored">([^<]+)<\/p>/.exec(body)![1]!;
      assert.ok(readFileSync(stored).equals(content), 'the stored file holds what was sent');
      assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('pso-upload-')), [], 'no temporary file remains');
    };

    it('as a script: -F file=@path uploads and saves it; the session counts uploads', async () => {
      const src = join(dir, 'photo.bin');
      writeFileSync(src, content);
      const r = await runScript(sample('upload'), ['-F', `file=@${src}`, '-F', 'note=hi'], env);
      assert.equal(r.status, 200, r.stderr);
      check(r.body, 'photo.bin');
      assert.match(r.body, /<p id="note">hi<\/p>/);
    });

    it('as a CGI process and under pso serve, with a cookie jar counting uploads', async () => {
      const form = () => {
        const f = new FormData();
        f.append('file', new Blob([content]), 'a.bin');
        return f;
      };
      const request = new Request('http://x/', { method: 'POST', body: form() });
      const bytes = Buffer.from(await request.arrayBuffer());
      const cgi = await runCgi(sample('upload'), { ...env, REQUEST_METHOD: 'POST', CONTENT_TYPE: request.headers.get('content-type')!, CONTENT_LENGTH: String(bytes.byteLength) }, bytes);
      assert.equal(cgi.status, 200, cgi.stderr);
      check(cgi.body, 'a.bin');

      let server: ServerProcess | undefined;
      try {
        server = await startServer(sample('upload'), directiveArgs(env));
        const jar = new CookieJar();
        for (const n of [1, 2]) {
          const body = await (await jar.fetch(server.url, { method: 'POST', body: form() })).text();
          check(body, 'a.bin');
          assert.match(body, new RegExp(`uploads this session: ${n}`));
        }
      } finally {
        await server?.stop();
      }
    });
  });

  describe('redirect.ts', () => {
    it('under pso serve: POST then 303 to the board, which shows the message saved before the redirect; 301 and 308', async () => {
      const server = await startServer(sample('redirect'), directiveArgs(env));
      try {
        const jar = new CookieJar();
        const post = await jar.fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'message=hello+%3Cworld%3E', redirect: 'manual' });
        assert.equal(post.status, 303);
        assert.equal(post.headers.get('location'), '/');
        assert.match(await (await jar.fetch(server.url)).text(), /<li>hello &#60;world&#62;<\/li>/);
        const old = await fetch(`${server.url}old`, { redirect: 'manual' });
        assert.equal(old.status, 301);
        const api = await fetch(`${server.url}api/old`, { method: 'POST', body: 'x', redirect: 'manual' });
        assert.equal(api.status, 308);
        assert.equal(api.headers.get('location'), '/api');
      } finally {
        await server.stop();
      }
    });

    it('as a CGI process: the Location keeps the script name', async () => {
      const r = await runCgi(sample('redirect'), { ...env, REQUEST_METHOD: 'POST', CONTENT_TYPE: 'application/x-www-form-urlencoded', CONTENT_LENGTH: '9', SCRIPT_NAME: '/cgi-bin/board.cgi' }, 'message=x');
      assert.equal(r.status, 303);
      assert.equal(r.header('location'), '/cgi-bin/board.cgi/');
    });
  });
});
