// How-To "Doing things without cookies": the id travels in a cookie and, while
// the browser does not send that cookie back, in links made with mkurl().
// UrlFileImpl turns this on (as does SetEnv PSOSessionUrl on with the default
// policy; PSOSessionUrl only drops the cookie). Unknown ids are never adopted,
// and pages whose links carry the id are sent with Referrer-Policy: no-referrer.
import { ServiceHandler, UrlFileImpl, isMain, type ServiceRequest } from 'pso-ts';

/** `pso serve` uses this session policy too. */
export const sessionImpl = UrlFileImpl;

export function handler(request: ServiceRequest) {
  const visits = request.session.increment('visits');
  request.sendHttpHeaders();
  request.write(`<p id="count">Visits: ${visits}</p>\n`);
  request.write(`<p><a id="next" href="${request.mkurl(request.path)}">next page</a></p>\n`);
  request.write(`<form method="post" action="${request.mkurl(request.path)}"><button id="post">post</button></form>\n`);
}

if (isMain(import.meta.url)) new ServiceHandler().run(handler, { sessionImpl: UrlFileImpl });
