import { describe, expect, it } from 'vitest';
import { FieldCollector } from '../../../../codecs/http1/field-collector.js';

/** Feeds `[name, value]` pieces of `chunk` (offsets) to a collector, as the parser would. */
function collect(chunk: Buffer, spans: ReadonlyArray<readonly ['f' | 'v', number, number]>, maxCount = 100): string[] {
  const c = new FieldCollector(maxCount);
  c.reset([]);
  for (const [kind, start, end] of spans) {
    if (kind === 'f') c.onField(chunk, start, end);
    else c.onValue(chunk, start, end);
  }
  expect(c.finish()).toBe(true);
  return c.list;
}

/** The spans of `name: value\r\n` lines laid out in `head`. */
function spansOf(head: string): Array<readonly ['f' | 'v', number, number]> {
  const out: Array<readonly ['f' | 'v', number, number]> = [];
  let at = 0;
  for (const line of head.split('\r\n')) {
    if (line === '') break;
    const colon = line.indexOf(':');
    out.push(['f', at, at + colon]);
    out.push(['v', at + colon + 2, at + line.length]);
    at += line.length + 2;
  }
  return out;
}

describe('FieldCollector.text', () => {
  it('cuts pieces of one chunk from one converted window, and converts again past its end', () => {
    const long = 'x'.repeat(1500);
    const head = `Host: a.example\r\nX-Long: ${long}\r\nX-After: tail value\r\nUser-Agent: ua/1.0\r\n\r\n`;
    const list = collect(Buffer.from(head, 'latin1'), spansOf(head));
    expect(list).toEqual(['host', 'a.example', 'x-long', long, 'x-after', 'tail value', 'user-agent', 'ua/1.0']);
  });

  it('keeps latin1 bytes (obs-text) as one character each', () => {
    const head = 'X-Obs: caf\xe9 \xff\r\n\r\n';
    expect(collect(Buffer.from(head, 'latin1'), spansOf(head))).toEqual(['x-obs', 'caf\xe9 \xff']);
  });

  it('never serves a piece of another chunk from the window of the previous one', () => {
    const c = new FieldCollector(10);
    c.reset([]);
    const first = Buffer.from('X-A: one\r\n', 'latin1');
    const second = Buffer.from('X-A: two\r\n', 'latin1');
    c.onField(first, 0, 3);
    c.onValue(first, 5, 8);
    // Same offsets, another Buffer: the text must come from `second`.
    c.onField(second, 0, 3);
    c.onValue(second, 5, 8);
    expect(c.finish()).toBe(true);
    expect(c.list).toEqual(['x-a', 'one', 'x-a', 'two']);
  });

  it('joins a name and a value split across chunks', () => {
    const c = new FieldCollector(10);
    c.reset([]);
    const a = Buffer.from('X-Spl', 'latin1');
    const b = Buffer.from('it: val', 'latin1');
    const d = Buffer.from('ue\r\n', 'latin1');
    c.onField(a, 0, 5);
    c.onField(b, 0, 2);
    c.onValue(b, 4, 7);
    c.onValue(d, 0, 2);
    expect(c.finish()).toBe(true);
    expect(c.list).toEqual(['x-split', 'value']);
  });

  it('text() returns exactly the requested span at window edges', () => {
    const c = new FieldCollector(10);
    const buf = Buffer.from('abcdefghij', 'latin1');
    expect(c.text(buf, 2, 5)).toBe('cde');
    expect(c.text(buf, 2, 2)).toBe('');
    expect(c.text(buf, 9, 10)).toBe('j');
    expect(c.text(buf, 0, 10)).toBe('abcdefghij');
    expect(c.text(buf, 1, 3)).toBe('bc');
  });
});
