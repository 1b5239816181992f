/**
 * Local replies (Envoy's Http::Utility::sendLocalReply): the headers and body sluice sends when it
 * answers a request itself. Plain requests get `content-type: text/plain` and a content-length;
 * HEAD requests the same headers without the body; gRPC requests a trailers-only gRPC error with
 * `grpc-status` mapped from the HTTP code as Envoy maps it and the body as `grpc-message`.
 */
import type { LocalReplyOptions } from '../../../src/api/http-filter.js';
import { HeaderMapImpl } from '../../../codecs/index.js';

/** gRPC status codes (grpc/include/grpcpp/impl/codegen/status_code_enum.h). */
export const GrpcStatus = {
  Unknown: 2,
  DeadlineExceeded: 4,
  PermissionDenied: 7,
  Internal: 13,
  Unimplemented: 12,
  Unavailable: 14,
  Unauthenticated: 16,
} as const;

/** Envoy's Grpc::Utility::httpToGrpcStatus. */
export function httpToGrpcStatus(code: number): number {
  switch (code) {
    case 400:
      return GrpcStatus.Internal;
    case 401:
      return GrpcStatus.Unauthenticated;
    case 403:
      return GrpcStatus.PermissionDenied;
    case 404:
      return GrpcStatus.Unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.Unavailable;
    default:
      return GrpcStatus.Unknown;
  }
}

/**
 * gRPC's percent-encoding of grpc-message: bytes outside printable ASCII, and '%', become %XX
 * (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md).
 */
export function grpcPercentEncode(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte < 0x20 || byte > 0x7e || byte === 0x25 ? `%${byte.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(byte);
  }
  return out;
}

/** True for `application/grpc`, `application/grpc+proto`, `application/grpc;...` (Envoy's check). */
export function isGrpcContentType(contentType: string | undefined): boolean {
  if (contentType === undefined || !contentType.startsWith('application/grpc')) return false;
  if (contentType.length === 16) return true;
  const next = contentType[16];
  return next === '+' || next === ';';
}

export interface LocalReplyRequest {
  readonly isGrpc: boolean;
  readonly isHead: boolean;
}

export interface LocalReply {
  readonly headers: HeaderMapImpl;
  /** Undefined when the reply is headers-only (HEAD, gRPC, or an empty body). */
  readonly body: string | undefined;
}

/** Builds the reply; `options.headers` are added after the standard ones. */
export function buildLocalReply(code: number, body: string, options: LocalReplyOptions, req: LocalReplyRequest): LocalReply {
  const headers = new HeaderMapImpl();
  if (req.isGrpc) {
    headers.addLowercase(':status', '200');
    headers.addLowercase('content-type', 'application/grpc');
    headers.addLowercase('grpc-status', String(options.grpcStatus ?? httpToGrpcStatus(code)));
    if (body !== '' && !req.isHead) headers.addLowercase('grpc-message', grpcPercentEncode(body));
    addExtra(headers, options);
    return { headers, body: undefined };
  }
  headers.addLowercase(':status', String(code));
  if (body !== '') {
    headers.addLowercase('content-length', String(Buffer.byteLength(body)));
    headers.addLowercase('content-type', 'text/plain');
  } else {
    headers.addLowercase('content-length', '0');
  }
  addExtra(headers, options);
  return { headers, body: body === '' || req.isHead ? undefined : body };
}

function addExtra(headers: HeaderMapImpl, options: LocalReplyOptions): void {
  if (options.headers === undefined) return;
  for (const name of Object.keys(options.headers)) headers.set(name, options.headers[name]!);
}

/** Envoy's CodeUtility::toString reason phrases, used as local reply bodies where Envoy uses them. */
export function reasonPhrase(code: number): string {
  return REASONS[code] ?? 'Unknown';
}

const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};
