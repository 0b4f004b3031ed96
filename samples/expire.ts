// How-To "Setting when a session expires", every form, chosen with ?how=...:
//
//   (nothing)  when the browser closes (the default): session.expire()
//   now        right away: session.expire(0); the next reload starts at 1
//   15min      15 minutes after the last request: session.expire(15 * 60)
//   twodays    at a given time: session.expire({ date: Date.now() / 1000 + twoDays })
//   date       on a given day: session.expire('Mon, 15 APR 2030 19:00:00', '%a, %d %b %Y %H:%M:%S')
//
// The directive form needs no code: SetEnv PSOSessionExpire "15*60" (or an HTTP date).
import { ServiceHandler, isMain, type ServiceRequest } from 'pso-ts';

const twoDays = 60 * 60 * 48;

export function handler(request: ServiceRequest) {
  const how = new URLSearchParams(request.queryString).get('how') ?? '';
  const session = request.session;
  switch (how) {
    case 'now':
      session.expire(0);
      break;
    case '15min':
      session.expire(15 * 60);
      break;
    case 'twodays':
      session.expire({ date: Date.now() / 1000 + twoDays });
      break;
    case 'date':
      session.expire('Mon, 15 APR 2030 19:00:00', '%a, %d %b %Y %H:%M:%S');
      break;
    case 'browser':
      session.expire();
      break;
  }
  const reloads = session.increment('reloads');
  request.sendHttpHeaders();
  request.write(`<p id="count">You reloaded: ${reloads} times</p>\n`);
  request.write(`<p id="expiry">Expiry: ${JSON.stringify(session.expiry ?? 'from the directives')}</p>\n<ul>\n`);
  for (const h of ['browser', 'now', '15min', 'twodays', 'date']) {
    request.write(`<li><a id="${h}" href="${request.mkurl(request.path, { how: h })}">${h}</a></li>\n`);
  }
  request.write('</ul>\n');
}

if (isMain(import.meta.url)) new ServiceHandler().run(handler);
