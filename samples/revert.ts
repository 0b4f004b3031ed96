// How-To "Reverting the current session to its previous state" and
// "Explicitly saving the current session":
//
//   ?            counts the visit
//   ?undo=1      counts, then reverts: the count stays where it was
//   ?save=1      counts, saves at once (as before a long task), counts again, reverts: one visit kept
import { ServiceHandler, isMain, type ServiceRequest } from 'pso-ts';

export async function handler(request: ServiceRequest) {
  const query = new URLSearchParams(request.queryString);
  const session = request.session;
  session.increment('visits');
  if (query.has('save')) {
    await session.save();
    session.increment('visits');
    session.revert(); // back to the state as last saved
  } else if (query.has('undo')) {
    session.revert(); // back to the state as loaded
  }
  request.sendHttpHeaders('text/plain');
  request.write(`visits: ${session.get('visits') ?? 0}\n`);
}

if (isMain(import.meta.url)) new ServiceHandler().run(handler);
