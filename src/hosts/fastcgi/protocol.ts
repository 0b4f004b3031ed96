// The numbers of the FastCGI protocol, version 1 (the FastCGI Specification,
// Open Market, 1996, sections 3 to 8), as the record layer of this folder uses them.

/** `version` of every record (§3.3). */
export const FCGI_VERSION_1 = 1;

/** Bytes of a record header (§3.3). */
export const HEADER_LENGTH = 8;

/** The largest `contentLength` a record can carry: the field has 16 bits. */
export const MAX_CONTENT_LENGTH = 0xffff;

/** The largest `paddingLength`: the field has 8 bits. */
export const MAX_PADDING_LENGTH = 0xff;

/** The request id of management records (§3.3). */
export const FCGI_NULL_REQUEST_ID = 0;

/** Record types (§8). */
export const RecordType = {
  BEGIN_REQUEST: 1,
  ABORT_REQUEST: 2,
  END_REQUEST: 3,
  PARAMS: 4,
  STDIN: 5,
  STDOUT: 6,
  STDERR: 7,
  DATA: 8,
  GET_VALUES: 9,
  GET_VALUES_RESULT: 10,
  UNKNOWN_TYPE: 11,
} as const;

/** `role` of FCGI_BEGIN_REQUEST (§5.1). pso is a responder. */
export const Role = {
  RESPONDER: 1,
  AUTHORIZER: 2,
  FILTER: 3,
} as const;

/** `flags` of FCGI_BEGIN_REQUEST: keep the connection open after this request (§5.1). */
export const FCGI_KEEP_CONN = 1;

/** `protocolStatus` of FCGI_END_REQUEST (§5.5). */
export const ProtocolStatus = {
  REQUEST_COMPLETE: 0,
  CANT_MPX_CONN: 1,
  OVERLOADED: 2,
  UNKNOWN_ROLE: 3,
} as const;

/** The variables FCGI_GET_VALUES may ask for (§4.1). */
export const FCGI_MAX_CONNS = 'FCGI_MAX_CONNS';
export const FCGI_MAX_REQS = 'FCGI_MAX_REQS';
export const FCGI_MPXS_CONNS = 'FCGI_MPXS_CONNS';

/** A record type's name, for log lines. */
export function recordTypeName(type: number): string {
  for (const [name, value] of Object.entries(RecordType)) if (value === type) return `FCGI_${name}`;
  return `type ${type}`;
}
