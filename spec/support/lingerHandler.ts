// A handler run as a real CGI process (or bundled, under Apache) that may have
// work left after its answer, and creates the file PSO_TEST_MARKER when that work is
// done:
//   PSO_TEST_LINGER_MS       a timer that much later prints "late" and creates the marker;
//   PSO_TEST_BEFORE_EXIT_MS  a 'beforeExit' listener that starts such a timer (added by the handler,
//                            or with PSO_TEST_LATE_LISTENER, 50 ms later, once the response has gone);
//   PSO_TEST_EXIT_HOLD_MS    an 'exit' listener that takes that long, then creates the marker.
import { writeFileSync } from 'node:fs';
import { ServiceHandler, isMain, type ServiceRequest } from '../../src/index.js';

export function handler(request: ServiceRequest): void {
  const marker = request.getEnviron('PSO_TEST_MARKER');
  const done = () => { if (marker) writeFileSync(marker, 'done'); };
  const linger = request.getEnviron('PSO_TEST_LINGER_MS');
  if (linger) {
    setTimeout(() => {
      console.log('late');
      process.stdout.write('late again\n');
      done();
    }, Number(linger));
  }
  const beforeExit = request.getEnviron('PSO_TEST_BEFORE_EXIT_MS');
  if (beforeExit) {
    const listen = () => process.once('beforeExit', () => setTimeout(done, Number(beforeExit)));
    if (request.getEnviron('PSO_TEST_LATE_LISTENER')) setTimeout(listen, 50);
    else listen();
  }
  const hold = request.getEnviron('PSO_TEST_EXIT_HOLD_MS');
  if (hold) {
    process.on('exit', () => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(hold));
      done();
    });
  }
  request.sendHttpHeaders('text/plain');
  request.write('answered');
}

if (isMain(import.meta.url)) void new ServiceHandler().run(handler);
