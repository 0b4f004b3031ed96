// An account page: log in, a welcome shown once, a form that posts with the
// session's CSRF token, and "log out everywhere", which ends every session of
// the user in every browser at once.
//
//   GET  /login?user=NAME      logs in as NAME (a new id, bound to NAME), flashes "welcome NAME", 303 to /
//   GET  /                     user: NAME (or -), the flash once, the note form with its csrf field
//   POST /note                 csrf=...&text=...: 200 "noted: TEXT"; without the right token a 403
//   GET  /logout-everywhere    ends every session of the user, this one too; 303 to /
//
// The same file runs as a CGI script, under `pso serve`, in Express or behind
// a fetch handler. A real site logs in by POST, with a password; this one
// takes the name alone so that it can be tried from a browser's address bar.
import { ServiceHandler, isMain, type HandlerOptions, type ServiceRequest } from 'pso-ts';

/** Every unsafe request needs the token of its session: the origin check, and the csrf field or X-CSRF-Token. `pso serve` reads this export. */
export const csrf: HandlerOptions['csrf'] = 'on';

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export async function handler(request: ServiceRequest) {
  const session = request.session;
  // Under the script's own URL: "/account.cgi" under CGI, "" in a server.
  const base = request.getEnviron('SCRIPT_NAME', '');
  // The path below the script (PATH_INFO): what the other hosts give as the whole path.
  const route = request.getEnviron('PATH_INFO') || '/';

  if (route === '/login') {
    const user = request.getInput('user', '');
    if (user.length < 1 || user.length > 200) return request.sendStatus(400);
    request.login(user);
    session.flash('info', `welcome ${user}`);
    // The session, with its new id and the message, is saved before the redirect goes out.
    return request.redirect(`${base}/`, 303);
  }

  if (route === '/logout-everywhere') {
    // Every session of the user ends, in this browser (its cookie is cleared) and in every other.
    if (session.userId !== undefined) await session.revokeUserSessions();
    return request.redirect(`${base}/`, 303);
  }

  if (route === '/note' && request.method === 'POST') {
    // pso has checked the csrf field before the handler runs: a wrong or missing token is a 403.
    request.sendHttpHeaders();
    request.write(`<p id="noted">noted: ${escape(request.getInput('text', ''))}</p>\n<p><a href="${base}/">back</a></p>\n`);
    return;
  }

  if (route !== '/') return request.sendStatus(404);
  request.sendHttpHeaders();
  request.write(`<!doctype html>\n<title>account</title>\n<p id="user">user: ${escape(session.userId ?? '-')}</p>\n`);
  for (const { message } of session.flashes()) request.write(`<p class="flash">flash: ${escape(message)}</p>\n`);
  request.write(
    `<form method="post" action="${base}/note"><input type="hidden" name="csrf" value="${request.csrfToken()}">` +
      '<input name="text"><button id="note">note</button></form>\n' +
      `<p><a id="logout-everywhere" href="${base}/logout-everywhere">log out everywhere</a></p>\n`,
  );
}

if (isMain(import.meta.url)) new ServiceHandler().run(handler, { csrf });
