// Cookies kept between requests to one contract host, as a browser keeps them.
import type { ContractHost, HostRequest, HostResponse } from './hosts.js';

/** Cookies kept between requests to one host; a cookie cleared by the server (empty, or Max-Age=0) is dropped. */
export class Jar {
  readonly cookies = new Map<string, string>();
  constructor(private readonly host: ContractHost) {}
  async request(path: string, init: HostRequest = {}): Promise<HostResponse> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await this.host.request(path, { ...init, headers });
    for (const sc of res.headers.getSetCookie()) {
      const [pair, ...attrs] = sc.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || attrs.some((a) => /^\s*max-age=0\s*$/i.test(a))) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }
}
