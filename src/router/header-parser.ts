/**
 * One level of header mutations (route, virtual host or route configuration), Envoy's
 * Router::HeaderParser: `*_headers_to_remove` then `*_headers_to_add`, with Envoy's append actions.
 */
import type { HeaderMap } from '../api/http-codec.js';
import type { HeaderMutations } from '../api/router.js';
import type { StreamInfo } from '../api/stream-info.js';
import type { FormatterContext, HeaderValueFormatter } from './header-formatter.js';

/** envoy.config.core.v3.HeaderValueOption.HeaderAppendAction. */
export type AppendAction = 'APPEND_IF_EXISTS_OR_ADD' | 'ADD_IF_ABSENT' | 'OVERWRITE_IF_EXISTS_OR_ADD' | 'OVERWRITE_IF_EXISTS';

export const APPEND_ACTIONS: readonly AppendAction[] = [
  'APPEND_IF_EXISTS_OR_ADD',
  'ADD_IF_ABSENT',
  'OVERWRITE_IF_EXISTS_OR_ADD',
  'OVERWRITE_IF_EXISTS',
];

export interface HeaderToAdd {
  /** Lowercase header name. */
  readonly name: string;
  readonly value: HeaderValueFormatter;
  readonly action: AppendAction;
  /** Envoy's `keep_empty_value`: by default a value that formats to "" is not added. */
  readonly keepEmptyValue: boolean;
}

export class HeaderParser implements HeaderMutations {
  static readonly EMPTY = new HeaderParser([], []);

  constructor(
    readonly headersToAdd: readonly HeaderToAdd[],
    /** Lowercase header names. */
    readonly headersToRemove: readonly string[],
  ) {}

  isEmpty(): boolean {
    return this.headersToAdd.length === 0 && this.headersToRemove.length === 0;
  }

  /**
   * Removes first ("remove-before-add", as Envoy), then evaluates every value against the headers
   * as they are at that point, then overwrites, then appends (Envoy's evaluateHeaders order), so
   * one entry never sees another entry's result.
   */
  apply(headers: HeaderMap, streamInfo?: StreamInfo, requestHeaders?: HeaderMap): void {
    for (const name of this.headersToRemove) headers.remove(name);
    const adds = this.headersToAdd;
    if (adds.length === 0) return;
    if (adds.length === 1) {
      const h = adds[0]!;
      const v = this.valueOf(h, headers, streamInfo, requestHeaders);
      if (v !== undefined) this.mutate(h, headers, v);
      return;
    }
    const values: (string | undefined)[] = new Array<string | undefined>(adds.length);
    for (let i = 0; i < adds.length; i++) values[i] = this.valueOf(adds[i]!, headers, streamInfo, requestHeaders);
    for (let i = 0; i < adds.length; i++) {
      const v = values[i];
      if (v !== undefined && adds[i]!.action !== 'APPEND_IF_EXISTS_OR_ADD' && adds[i]!.action !== 'ADD_IF_ABSENT') {
        headers.set(adds[i]!.name, v);
      }
    }
    for (let i = 0; i < adds.length; i++) {
      const v = values[i];
      if (v !== undefined && (adds[i]!.action === 'APPEND_IF_EXISTS_OR_ADD' || adds[i]!.action === 'ADD_IF_ABSENT')) {
        headers.add(adds[i]!.name, v);
      }
    }
  }

  /** The value to write, or undefined when this entry does nothing for these headers. */
  private valueOf(h: HeaderToAdd, headers: HeaderMap, streamInfo: StreamInfo | undefined, requestHeaders: HeaderMap | undefined): string | undefined {
    const ctx: FormatterContext | undefined =
      h.value.constant === undefined ? { streamInfo, requestHeaders: requestHeaders ?? headers } : undefined;
    const v = ctx === undefined ? h.value.constant! : h.value.format(ctx);
    if (v === '' && !h.keepEmptyValue) return undefined;
    switch (h.action) {
      case 'ADD_IF_ABSENT':
        return headers.has(h.name) ? undefined : v;
      case 'OVERWRITE_IF_EXISTS':
        return headers.has(h.name) ? v : undefined;
      default:
        return v;
    }
  }

  private mutate(h: HeaderToAdd, headers: HeaderMap, v: string): void {
    if (h.action === 'APPEND_IF_EXISTS_OR_ADD' || h.action === 'ADD_IF_ABSENT') headers.add(h.name, v);
    else headers.set(h.name, v);
  }
}
