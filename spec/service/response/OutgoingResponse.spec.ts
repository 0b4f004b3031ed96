import assert from 'node:assert/strict';
import { OutgoingResponse, type ResponseSink } from '../../../src/service/response/OutgoingResponse.js';

/** A host whose body writes take a while to be taken (a client reading slowly), recording what went out in order. */
function slowSink(): ResponseSink & { out: string[] } {
  const out: string[] = [];
  return {
    out,
    head: () => void out.push('head'),
    body: (chunk) => new Promise<void>((resolve) => setTimeout(() => {
      out.push(Buffer.from(chunk).toString());
      resolve();
    }, 20)),
    last: async (chunk) => void out.push(`last:${typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString()}`),
    end: async () => void out.push('end'),
  };
}

describe('OutgoingResponse', () => {
  it('sends the last piece only after what was flushed before it has been taken', async () => {
    const sink = slowSink();
    const response = new OutgoingResponse(sink, false);
    response.write('one');
    void response.flush();
    response.write('two');
    await response.finish();
    assert.deepEqual(sink.out, ['head', 'one', 'last:two']);
  });

  it('with nothing flushed before, sends the head and the whole body as the last piece', async () => {
    const sink = slowSink();
    const response = new OutgoingResponse(sink, false);
    response.write('all');
    await response.finish();
    assert.deepEqual(sink.out, ['head', 'last:all']);
  });
});
