// The soak's handler module for `pso serve` (spec/reliability/soak.spec.ts,
// bench/soak.ts):
//   GET /         increments `n` in the session and answers it
//   POST /upload  a multipart upload: answers the size of file `f` (its temporary file is removed afterwards)
//   GET /throw    changes the session, then throws: a 500, nothing saved
import type { ServiceRequest } from '../../src/index.js';

export function handler(r: ServiceRequest): void {
  if (r.path === '/throw') {
    r.session.set('thrown', true);
    throw new Error('the soak\'s throwing handler');
  }
  r.sendHttpHeaders('text/plain');
  if (r.path === '/upload') {
    r.write(String(r.getFile('f')?.size ?? -1));
    return;
  }
  r.write(String(r.session.increment('n')));
}
