// Log in and out safely: request.login() gives the session a new id and binds
// it to the user, so that an id planted before (session fixation) is worth
// nothing after; destroy() on logout, which deletes the session on the server
// and clears the cookie.
//
//   GET  /            the page: a login form, or who you are
//   POST /login       user=...&password=... (demo account: ada / lovelace)
//   POST /logout
import { ServiceHandler, isMain, type ServiceRequest } from 'pso-ts';

const USERS: Record<string, string> = { ada: 'lovelace' };

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function handler(request: ServiceRequest) {
  const session = request.session;
  if (request.method === 'POST' && request.path.endsWith('/login')) {
    const user = request.getInput('user', '');
    if (Object.hasOwn(USERS, user) && USERS[user] === request.getInput('password')) {
      request.login(user);
      session.delete('failures');
      request.redirect(request.mkurl('./'), false);
    }
    request.setStatus(401);
    // Kept in the session (a site would slow down or lock out after a few), so a
    // failed login leaves a session behind: the one that must not survive a login.
    session.increment('failures');
    session.set('error', 'wrong user or password');
  } else if (request.method === 'POST' && request.path.endsWith('/logout')) {
    session.destroy();
    request.redirect(request.mkurl('./'), false);
  }
  request.sendHttpHeaders();
  // Actions under the script's own URL: "login" alone would leave /login.cgi for /login.
  const base = request.getEnviron('SCRIPT_NAME', '');
  const user = session.userId;
  if (user !== undefined) {
    request.write(`<p id="who">Logged in as ${escape(user)}</p><form method="post" action="${request.mkurl(`${base}/logout`)}"><button id="logout">log out</button></form>\n`);
  } else {
    const error = session.get('error');
    session.delete('error');
    if (typeof error === 'string') request.write(`<p id="error">${escape(error)}</p>\n`);
    request.write(`<form method="post" action="${request.mkurl(`${base}/login`)}"><input name="user"><input name="password" type="password"><button id="login">log in</button></form>\n`);
  }
}

if (isMain(import.meta.url)) new ServiceHandler().run(handler);
