// Redirects: Post/Redirect/Get with 303, so a reload never posts twice; 301
// and 308 for moved pages; the session is saved before the redirect goes out,
// so the page redirected to already sees what was stored.
//
//   GET  /            the message board (messages kept in the session)
//   POST /            message=...  -> 303 See Other to /
//   GET  /old         -> 301 Moved Permanently to /
//   POST /api/old     -> 308 Permanent Redirect to /api (method and body kept)
import { ServiceHandler, isMain, type ServiceRequest } from 'pso-ts';

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function handler(request: ServiceRequest) {
  const base = request.getEnviron('SCRIPT_NAME', '');
  const path = request.path.slice(base.length) || '/';
  if (path === '/old') request.redirect(`${base}/`, 301);
  if (path === '/api/old') request.redirect(`${base}/api`, 308);
  const messages = (request.session.get('messages') as string[] | undefined) ?? [];
  if (request.method === 'POST' && request.hasInput('message')) {
    request.session.set('messages', [...messages, request.getInput('message', '')].slice(-20));
    request.redirect(`${base}/`, 303);
  }
  request.sendHttpHeaders('text/html; charset=utf-8');
  request.write(`<ul id="messages">${messages.map((m) => `<li>${escape(m)}</li>`).join('')}</ul>
<form method="post" action="${base}/"><input name="message"><button>post</button></form>\n`);
}

if (isMain(import.meta.url)) new ServiceHandler().run(handler);
