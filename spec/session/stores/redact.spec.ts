import assert from 'node:assert/strict';
import { ConfigurationError, ServiceHandler, TOKENS, createContainer, openStore, closeStores } from '../../../src/index.js';
import { redact, redactText } from '../../../src/session/stores/redact.js';
import { FakeRequest } from '../../support/fakeRequest.js';
import { MemoryLogger } from '../../support/memoryLogger.js';

const SECRET = 'hunter2-Sup3r';

describe('redact()', () => {
  it('masks the password of a URL', () => {
    assert.equal(redact(new URL(`postgres://app:${SECRET}@db:5432/app`)), 'postgres://app:***@db:5432/app');
  });

  it('masks every query parameter that carries a secret, in any case, repeated ones too, and keeps the others', () => {
    const url = new URL(`postgres://db/app?table=t&password=${SECRET}&PWD=${SECRET}&pass=${SECRET}&sslpassword=${SECRET}&sslmode=require&pass=${SECRET}2`);
    const shown = redact(url);
    assert.equal(shown, 'postgres://db/app?table=t&password=***&PWD=***&pass=***&sslpassword=***&sslmode=require&pass=***');
    assert.ok(!shown.includes(SECRET));
  });

  it('leaves a URL without secrets as it is', () => {
    assert.equal(redact(new URL('redis://127.0.0.1:6379/0?prefix=a:')), 'redis://127.0.0.1:6379/0?prefix=a:');
  });
});

describe('redactText()', () => {
  it('never shows a setting that is not a URL, only its scheme and length', () => {
    for (const text of [`redis://:${SECRET}@host:port/0`, `mysql://u:${SECRET} with space@[bad`, `${SECRET}`, `postgres://u:${SECRET}@db:99999/x`]) {
      const shown = redactText(text);
      assert.ok(!shown.includes(SECRET), shown);
      assert.match(shown, new RegExp(`\\(a URL that cannot be parsed, ${text.length} characters\\)$`));
    }
    assert.match(redactText(`redis://:${SECRET}@host:port/0`), /^redis:\/\/… /);
  });
});

describe('a PSOSessionStore that cannot be parsed', () => {
  afterEach(() => closeStores());

  it('is refused by openStore() without its text', async () => {
    await assert.rejects(openStore(`redis://:${SECRET}@host:port/0`), (e: unknown) =>
      e instanceof ConfigurationError && !e.message.includes(SECRET) && /PSOSessionStore="redis:\/\/… \(a URL that cannot be parsed/.test(e.message));
  });

  for (const url of [`redis://:${SECRET}@host:port/0`, `postgres://u:${SECRET}@db:99999/x`, `sqlite://${SECRET}@/x.db?password=${SECRET}`, `mysql://db/app?password=${SECRET}&table=`]) {
    it(`shows nowhere, neither in the log nor in a PSODebug body: ${url.split(':')[0]}`, async () => {
      const container = createContainer();
      const logger = new MemoryLogger();
      container.rebind(TOKENS.Logger).toConstantValue(logger);
      const request = new FakeRequest({ env: { PSOSessionStore: url, PSODebug: 'on' }, logger });
      await new ServiceHandler(container).handle(request, (r) => { r.session.set('n', 1); });
      assert.ok(request.head!.status >= 500, String(request.head!.status));
      const everything = `${logger.lines.map((l) => l.message).join('\n')}\n${request.sentBody}`;
      assert.ok(!everything.includes(SECRET), everything);
    });
  }
});
