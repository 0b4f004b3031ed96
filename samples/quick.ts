// The How-To's "Real Quick Example - 95% of the Time": a page that counts reloads.
//
//   npm start                                    # node:http on http://127.0.0.1:8080
//   node dist/samples/quick.js                   # from the command line
//   pso bundle samples/quick.ts -o quick.cgi     # a CGI script for Apache or nginx
import { ServiceHandler, isMain, type ServiceRequest } from 'pso-ts';

export function handler(serviceRequest: ServiceRequest) {
  serviceRequest.pso().sendHttpHeaders();
  const reloads = serviceRequest.pso().session.increment('reloads');
  serviceRequest.pso().write(`Hello World!  ~ You reloaded: ${reloads} times ~ Try Reload !\n`);
}

if (isMain(import.meta.url)) new ServiceHandler().run(handler);
