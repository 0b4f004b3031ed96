// Fuzz targets of stored session records (src/session/SessionRecord.ts, and
// what SessionImpl does with what a store gives back): JSON garbage, wrong
// shapes, absurd times, deep and huge data.
import fc from 'fast-check';
import { createContainer } from '../../../src/container/createContainer.js';
import { TOKENS } from '../../../src/container/tokens.js';
import { ServiceCore } from '../../../src/service/ServiceCore.js';
import type { JsonValue } from '../../../src/session/json.js';
import { CorruptSessionError, parseRecord, serializeRecord, type SessionRecord } from '../../../src/session/SessionRecord.js';
import type { SessionStore } from '../../../src/session/stores/SessionStore.js';
import { FakeRequest } from '../../support/fakeRequest.js';
import { fuzzAsyncProperty, fuzzProperty, onlyThrows, type FuzzTarget } from '../../support/fuzz/FuzzTarget.js';
import { anyText } from '../../support/fuzz/arbitraries.js';

const ID = 'AAAAAAAAAAAAAAAAAAAAAAAAAAA';

/** JSON data a session may hold. */
const data = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 4 }), { maxKeys: 6 }) as fc.Arbitrary<Record<string, JsonValue>>;

/** A number where a time goes: ordinary, absurd or not a number at all. */
const time = fc.oneof(
  fc.integer({ min: 0, max: 4102444800000 }),
  fc.constantFrom(-1, 0, 1e15, 8.64e15, 8.64e15 + 1, 1e300, Number.MAX_SAFE_INTEGER, Number.MAX_VALUE, 0.5),
  fc.double(),
);

/** A parsed JSON document shaped like a record, with any field wrong. */
const recordLike = fc.record(
  {
    v: fc.oneof(fc.constant(1), fc.jsonValue({ maxDepth: 1 })),
    created: fc.oneof(time, fc.jsonValue({ maxDepth: 1 })),
    expires: fc.oneof(time, fc.jsonValue({ maxDepth: 1 })),
    data: fc.oneof(data, fc.jsonValue({ maxDepth: 2 })),
    expiry: fc.oneof(
      fc.record({ kind: fc.constantFrom('browser', 'after', 'at', 'never'), seconds: fc.oneof(fc.nat(), time, fc.jsonValue({ maxDepth: 1 })), time: fc.oneof(time, fc.jsonValue({ maxDepth: 1 })) }, { requiredKeys: ['kind'] }),
      fc.jsonValue({ maxDepth: 1 }),
    ),
    timeouts: fc.oneof(fc.record({ idle: fc.oneof(time, fc.jsonValue({ maxDepth: 0 })), absolute: fc.oneof(time, fc.jsonValue({ maxDepth: 0 })) }, { requiredKeys: [] }), fc.jsonValue({ maxDepth: 1 })),
  },
  { requiredKeys: [] },
);

/** JSON nested `depth` levels deep (arrays or objects), which JSON.parse takes and JSON.stringify may not. */
const deep = fc.tuple(fc.integer({ min: 60, max: 20_000 }), fc.boolean()).map(([depth, arrays]) =>
  `{"v":1,"created":0,"expires":4102444800000,"data":{"d":${arrays ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)}}}`,
);

/** Text a store may give back: a record, cut or spoiled, or anything. */
const storedText = fc.oneof(
  recordLike.map((r) => JSON.stringify(r)),
  fc.tuple(recordLike.map((r) => JSON.stringify(r)), fc.nat()).map(([t, n]) => t.slice(0, n % (t.length + 1))),
  deep,
  fc.integer({ min: 1000, max: 200_000 }).map((n) => `{"v":1,"created":0,"expires":4102444800000,"data":{"big":"${'x'.repeat(n)}"}}`),
  anyText(80),
  fc.constantFrom('', 'null', '[]', '"x"', '{}', '{"__proto__":{"polluted":1},"v":1}', '{"v":1,"created":0,"expires":9e999,"data":{}}', '\u0000', '\ufeff{}'),
);

const parseAnything: FuzzTarget = {
  name: 'stored records: any text parses to a sane record or throws CorruptSessionError',
  runs: 2000,
  property: () =>
    fuzzProperty(storedText, (text) => {
      const got = onlyThrows(() => parseRecord(text), CorruptSessionError);
      if ('error' in got) return true;
      const r = got.value;
      return Object.getPrototypeOf(r.data) === null && [r.created, r.expires].every((t) => Number.isFinite(t) && t >= 0) && ({} as Record<string, unknown>).polluted === undefined;
    }),
};

const recordArb: fc.Arbitrary<SessionRecord> = fc.record(
  {
    data,
    created: fc.integer({ min: 0, max: 4102444800000 }),
    expires: fc.integer({ min: 0, max: 4102444800000 }),
    expiry: fc.oneof(
      fc.constant({ kind: 'browser' as const }),
      fc.nat(315360000).map((seconds) => ({ kind: 'after' as const, seconds })),
      fc.integer({ min: 0, max: 4102444800000 }).map((t) => ({ kind: 'at' as const, time: t })),
    ),
    timeouts: fc.record({ idle: fc.integer({ min: 1, max: 315360000 }), absolute: fc.integer({ min: 1, max: 315360000 }) }, { requiredKeys: [] }),
  },
  { requiredKeys: ['data', 'created', 'expires'] },
);

const roundTrip: FuzzTarget = {
  name: 'stored records: serializeRecord then parseRecord gives the same record',
  runs: 1500,
  property: () =>
    fuzzProperty(recordArb, (record) => {
      const back = parseRecord(serializeRecord(record));
      return JSON.stringify({ ...back, data: { ...back.data } }) === JSON.stringify(record) || JSON.stringify(sorted(back)) === JSON.stringify(sorted(record));
    }),
};

function sorted(r: SessionRecord): unknown {
  return { data: JSON.parse(JSON.stringify(r.data)), created: r.created, expires: r.expires, expiry: r.expiry ?? null, timeouts: r.timeouts ?? null };
}

/** A store that gives back, for any key, what `text` parses to (as pso's stores do), and keeps what is written. */
class SpoiledStore implements SessionStore {
  readonly name = 'spoiled:';
  text = '';
  written: SessionRecord | undefined;
  async get(key: string): Promise<SessionRecord | undefined> {
    if (this.written) return parseRecord(serializeRecord(this.written));
    return key.startsWith('spec:') ? parseRecord(this.text) : undefined;
  }
  async set(_key: string, record: SessionRecord): Promise<void> {
    this.written = record;
  }
  async destroy(): Promise<void> {
    this.written = undefined;
  }
}

const store = new SpoiledStore();
const container = createContainer();
container.bind(TOKENS.SessionStore).toConstantValue(store);
const core = new ServiceCore(container);

const served: FuzzTarget = {
  name: 'stored records: whatever the store gives back, the request is answered 200 and its session works on the next one',
  runs: 800,
  property: () =>
    fuzzAsyncProperty(fc.oneof(storedText, recordLike.map((r) => JSON.stringify({ ...r, v: 1 }))), fc.constantFrom('1m', '64'), async (text, maxSize) => {
      store.text = text;
      store.written = undefined;
      const visit = async () => {
        const req = new FakeRequest({ env: { PSOSessionMaxSize: maxSize, PSOSessionGCProbability: '0' }, headers: { host: '127.0.0.1', cookie: `spec=${ID}` } });
        await core.handle(req, (r) => {
          r.session.increment('visits');
          r.write(String(r.session.get('visits')));
        });
        const unexpected = req.logLines.filter((l) => l.level === 'error');
        if (req.head?.status !== 200 || unexpected.length > 0) {
          throw new Error(`answered ${req.head?.status}:\n${req.logLines.map((l) => `${l.level} ${l.message}`).join('\n')}`);
        }
        return req;
      };
      const first = await visit();
      // The session it got (the stored one, or a new one) is written, and found by the next request.
      const cookie = first.setCookies()[0]?.split(';')[0];
      const second = new FakeRequest({ env: { PSOSessionMaxSize: maxSize, PSOSessionGCProbability: '0' }, headers: { host: '127.0.0.1', cookie: cookie ?? `spec=${ID}` } });
      await core.handle(second, (r) => void r.write(String(r.session.get('visits'))));
      return second.head?.status === 200 && second.sentBody === first.sentBody;
    }),
};

export const targets: FuzzTarget[] = [parseAnything, roundTrip, served];
