// How-To "Storing the session files in another path", the easy way: the
// PSOSessionFileLoader_Path directive. Under Apache put it in .htaccess:
//
//   SetEnv PSOSessionFileLoader_Path /tmp/path0/
//
// With `pso serve` give it with -D, or rely on the default below (the
// environment, like .htaccess, overrides it).
import { ServiceHandler, isMain, type ServiceRequest } from 'pso-ts';

/** Default directives of this sample; `pso serve` reads them too. */
export const directives = { PSOSessionFileLoader_Path: '/tmp/path0/' };

export function handler(serviceRequest: ServiceRequest) {
  serviceRequest.pso().sendHttpHeaders();
  const reloads = serviceRequest.pso().session.increment('reloads');
  serviceRequest.pso().write(`Hello World!  ~ You reloaded: ${reloads} times ~ Try Reload !\n`);
}

if (isMain(import.meta.url)) new ServiceHandler().run(handler, { directives });
