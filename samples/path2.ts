// How-To "Storing the session files in another path", with more control:
// override CookieFileImpl.getPath. It must return the full session directory
// ("excluding name"), an absolute path the handler may create or write to.
import { CookieFileImpl, ServiceHandler, isMain, type ServiceRequest } from 'pso-ts';

export class MyFileImpl extends CookieFileImpl {
  override getPath(_request: ServiceRequest): string {
    return '/tmp/path2/';
  }
}

/** `pso serve` uses this session policy too. */
export const sessionImpl = MyFileImpl;

export function testHandler(serviceRequest: ServiceRequest) {
  serviceRequest.pso().sendHttpHeaders();
  const reloads = serviceRequest.pso().session.increment('reloads');
  serviceRequest.pso().write(`Hello World!  ~ You reloaded: ${reloads} times ~ Try Reload !\n`);
}

export { testHandler as handler };

if (isMain(import.meta.url)) new ServiceHandler().run(testHandler, { sessionImpl: MyFileImpl });
