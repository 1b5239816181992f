/**
 * Envoy's format dictionaries (`log_format.json_format`): a JSON object whose string values are
 * format strings. A value that is exactly one command keeps its type (numbers stay numbers, an
 * unset value is null); any other string is rendered as text. Numbers, booleans and null pass
 * through; nested objects recurse. Keys are sorted, as Envoy always sorts them. One object per
 * line.
 */
import type { StreamInfo } from '../api/stream-info.js';
import { ConfigError, joinPath } from '../config/config-error.js';
import { describe } from '../config/schema-helpers.js';
import { compileTemplate, renderTemplate, renderValue, type FormatOptions, type Formatter, type Template } from './format.js';

type JsonValue = string | number | boolean | null | { [k: string]: JsonValue };

type Node =
  | { readonly kind: 'literal'; readonly value: number | boolean | null }
  | { readonly kind: 'template'; readonly template: Template }
  | { readonly kind: 'object'; readonly entries: readonly (readonly [string, Node])[] };

function compileNode(raw: unknown, path: string): Node {
  if (typeof raw === 'string') return { kind: 'template', template: compileTemplate(raw, path) };
  if (typeof raw === 'number' || typeof raw === 'boolean' || raw === null) return { kind: 'literal', value: raw };
  if (typeof raw === 'object' && !Array.isArray(raw)) {
    const obj = raw as Record<string, unknown>;
    const keys = Object.keys(obj).sort();
    return { kind: 'object', entries: keys.map((k) => [k, compileNode(obj[k], joinPath(path, k))] as const) };
  }
  throw new ConfigError(path, `expected a format string, number, boolean or object, got ${describe(raw)}`);
}

function evaluate(node: Node, info: StreamInfo, omitEmpty: boolean): JsonValue | undefined {
  switch (node.kind) {
    case 'literal':
      return node.value;
    case 'template': {
      const { parts, maxLengths } = node.template;
      const only = parts.length === 1 ? parts[0] : undefined;
      if (only !== undefined && typeof only !== 'string') {
        const v = only(info);
        if (typeof v === 'number') return v;
        return renderValue(v, maxLengths[0]);
      }
      return renderTemplate(node.template, info, '-');
    }
    case 'object': {
      const out: { [k: string]: JsonValue } = {};
      for (const [k, child] of node.entries) {
        const v = evaluate(child, info, omitEmpty);
        if (v !== undefined) out[k] = v;
        else if (!omitEmpty) out[k] = null;
      }
      return out;
    }
  }
}

class JsonFormatter implements Formatter {
  constructor(
    private readonly root: Node,
    private readonly omitEmpty: boolean,
  ) {}

  format(info: StreamInfo): string {
    return `${JSON.stringify(evaluate(this.root, info, this.omitEmpty))}\n`;
  }
}

/** Compiles a json_format object; throws a ConfigError at `path`. */
export function compileJsonFormat(raw: unknown, path: string, opts: FormatOptions = {}): Formatter {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(path, `expected an object, got ${describe(raw)}`);
  }
  return new JsonFormatter(compileNode(raw, path), opts.omitEmptyValues === true);
}
