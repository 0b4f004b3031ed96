// How-To "Storing the session files in another path", for the OO fans:
// subclass CookieFileImpl, override PATH, and pass it to the service handler.
import { CookieFileImpl, ServiceHandler, isMain, type ServiceRequest } from 'pso-ts';

export class MyFileImpl extends CookieFileImpl {
  static override PATH = '/tmp/path1/';
}

/** `pso serve` uses this session policy too. */
export const sessionImpl = MyFileImpl;

export function handler(serviceRequest: ServiceRequest) {
  serviceRequest.pso().sendHttpHeaders();
  const reloads = serviceRequest.pso().session.increment('reloads');
  serviceRequest.pso().write(`Hello World!  ~ You reloaded: ${reloads} times ~ Try Reload !\n`);
}

if (isMain(import.meta.url)) new ServiceHandler().run(handler, { sessionImpl: MyFileImpl });
