import { closeSync, openSync } from 'node:fs';

let armed = false;

/**
 * Ends a CGI script's output once the process has nothing left to do but
 * exit, rather than when it has exited. The web server takes the response to
 * be complete when the script's standard output reaches its end, which is
 * when the last descriptor of it is closed: by default, after node has torn
 * itself down, some milliseconds after the process's last work.
 *
 * When node is about to exit ('beforeExit': nothing is pending), standard
 * input and output are closed and `/dev/null` takes their places (under
 * Apache's mod_cgid they are one socket, so both must go): the web server
 * answers the client at once, while node tears down. Apache ends a script
 * whose output has ended (SIGTERM), so this is done only when nothing can be
 * cut short: no work pending, no other 'beforeExit' listener after this one
 * (it could start more), no 'exit' listener. Otherwise the output ends with
 * the process, as it always does.
 */
export function releaseStdioBeforeExit(): void {
  if (armed || process.platform === 'win32') return;
  armed = true;
  const listener = (): void => {
    const listeners = process.listeners('beforeExit');
    if (listeners[listeners.length - 1] !== listener || process.listenerCount('exit') > 0) return;
    if (process.getActiveResourcesInfo().length > 0) return;
    process.removeListener('beforeExit', listener);
    releaseStdio();
  };
  process.on('beforeExit', listener);
}

/**
 * Closes standard input and output and opens `/dev/null` in their places, so
 * that later writes to standard output go nowhere and no file opened later
 * takes either number. Call it only when no other thread can be opening a
 * file (it could take a number between the close and the open). When
 * `/dev/null` cannot be opened (a chroot without it), nothing is changed, or
 * (the system out of descriptors between a close and its open) what is left
 * closed ends with the process.
 */
function releaseStdio(): void {
  try {
    closeSync(openSync('/dev/null', 'r'));
    if (reopen(0, 'r')) reopen(1, 'w');
  } catch {
    // Nothing else to do at exit: the output ends with the process, as it always did.
  }
}

/** Closes `fd` and opens `/dev/null` in its place (an open takes the lowest free number: the one just closed); false if another number came. */
function reopen(fd: number, flags: 'r' | 'w'): boolean {
  try {
    closeSync(fd);
  } catch {
    // Closed already (EBADF): the number is free all the same.
  }
  const got = openSync('/dev/null', flags);
  if (got === fd) return true;
  closeSync(got);
  return false;
}
