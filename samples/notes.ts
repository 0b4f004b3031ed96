// Notes: a form posted with a CSRF token, a flash message shown once after
// the Post/Redirect/Get, and a read-only poll that never holds up the form.
//
//   GET  /        the notes, the messages flashed since the last page, the form
//   POST /note    text=... with the csrf field: adds the note, flashes, 303 to /
//   GET  /count   {"notes": N}: read-only (no lock, nothing saved); touch() keeps the session alive
import { ServiceHandler, isMain, type HandlerOptions, type ServiceRequest } from 'pso-ts';

/** Every unsafe request needs the token of its session (SetEnv or -D can still say otherwise). */
export const directives = { PSOCsrf: 'on' };

/** The poll opens its session read-only. */
export const readOnlySession: HandlerOptions['readOnlySession'] = (request) => request.path.endsWith('/count');

interface Notes {
  notes: string[];
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export async function handler(request: ServiceRequest<Notes>) {
  const session = request.session;
  // Under the script's own URL: "/notes.cgi/" under CGI, "/" in a server.
  const base = request.getEnviron('SCRIPT_NAME', '');
  if (request.path.endsWith('/count')) {
    await session.touch();
    request.sendHttpHeaders('application/json');
    request.write(JSON.stringify({ notes: session.get('notes', []).length }));
    return;
  }
  if (request.method === 'POST' && request.path.endsWith('/note')) {
    const text = request.getInput('text', '').trim();
    if (text) {
      session.set('notes', [...session.get('notes', []), text]);
      session.flash('info', `Noted: ${text}`);
    } else {
      session.flash('error', 'Write something first');
    }
    // Saved before the redirect goes out: the next page finds the message.
    request.redirect(`${base}/`, 303);
  }
  request.sendHttpHeaders();
  for (const { kind, message } of session.flashes()) request.write(`<p class="${kind}">${escape(message)}</p>\n`);
  request.write(`<ul id="notes">${session.get('notes', []).map((n) => `<li>${escape(n)}</li>`).join('')}</ul>\n`);
  request.write(
    `<form method="post" action="${base}/note"><input type="hidden" name="csrf" value="${request.csrfToken()}">` +
      '<input name="text"><button id="add">add</button></form>\n',
  );
}

if (isMain(import.meta.url)) new ServiceHandler().run(handler, { directives, readOnlySession });
