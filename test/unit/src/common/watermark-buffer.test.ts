import { describe, expect, it } from 'vitest';
import { BufferChain } from '../../../../src/common/buffer-chain.js';
import { WatermarkBuffer } from '../../../../src/common/watermark-buffer.js';

function recorder(): { events: string[]; buf: (high: number) => WatermarkBuffer } {
  const events: string[] = [];
  return {
    events,
    buf: (high) =>
      new WatermarkBuffer(
        {
          onAboveHighWatermark: () => events.push('above'),
          onBelowLowWatermark: () => events.push('below'),
        },
        high,
      ),
  };
}

type Op = { add: number } | { drain: number };

describe('WatermarkBuffer', () => {
  // high 10, low 5: above when length > 10, below when length <= 5 after above.
  const table: Array<{ name: string; ops: Op[]; events: string[] }> = [
    { name: 'exactly high does not trigger', ops: [{ add: 10 }], events: [] },
    { name: 'one past high triggers', ops: [{ add: 11 }], events: ['above'] },
    { name: 'edge-triggered: no repeat while above', ops: [{ add: 11 }, { add: 5 }, { add: 100 }], events: ['above'] },
    { name: 'between marks stays above', ops: [{ add: 11 }, { drain: 5 }], events: ['above'] },
    { name: 'low mark reached fires below once', ops: [{ add: 11 }, { drain: 6 }, { drain: 5 }], events: ['above', 'below'] },
    {
      name: 'a second crossing fires again',
      ops: [{ add: 11 }, { drain: 11 }, { add: 10 }, { add: 1 }, { drain: 6 }],
      events: ['above', 'below', 'above', 'below'],
    },
    { name: 'drain without a previous above is silent', ops: [{ add: 8 }, { drain: 8 }], events: [] },
  ];
  it.each(table)('$name', ({ ops, events }) => {
    const r = recorder();
    const b = r.buf(10);
    for (const op of ops) {
      if ('add' in op) b.add(Buffer.alloc(op.add));
      else b.drain(op.drain);
    }
    expect(r.events).toEqual(events);
  });

  it('low = floor(high / 2)', () => {
    const r = recorder();
    const b = r.buf(7);
    expect(b.lowWatermark()).toBe(3);
    b.add(Buffer.alloc(8));
    b.drain(4);
    expect(r.events).toEqual(['above']);
    b.drain(1);
    expect(r.events).toEqual(['above', 'below']);
  });

  it('limit 0 disables the marks', () => {
    const r = recorder();
    const b = r.buf(0);
    b.add(Buffer.alloc(1 << 20));
    b.drain(1 << 20);
    expect(r.events).toEqual([]);
    expect(b.highWatermarkTriggered()).toBe(false);
  });

  it('setWatermarks re-checks: lower limit fires above, disabling while above fires below', () => {
    const r = recorder();
    const b = r.buf(100);
    b.add(Buffer.alloc(50));
    b.setWatermarks(40);
    expect(r.events).toEqual(['above']);
    expect(b.highWatermarkTriggered()).toBe(true);
    b.setWatermarks(0);
    expect(r.events).toEqual(['above', 'below']);
    b.setWatermarks(40);
    expect(r.events).toEqual(['above', 'below', 'above']);
    b.setWatermarks(200);
    expect(r.events).toEqual(['above', 'below', 'above', 'below']);
    expect(() => b.setWatermarks(-1)).toThrow(RangeError);
  });

  it('prepend, move in, move out, takeSlices and clear all count', () => {
    const r = recorder();
    const b = r.buf(4);
    b.prepend(Buffer.alloc(5));
    expect(r.events).toEqual(['above']);
    const out = new BufferChain();
    out.move(b, 3);
    expect(r.events).toEqual(['above', 'below']);
    const src = new BufferChain();
    src.add(Buffer.alloc(3));
    b.move(src);
    expect(r.events).toEqual(['above', 'below', 'above']);
    b.takeSlices();
    expect(r.events).toEqual(['above', 'below', 'above', 'below']);
    b.add(Buffer.alloc(5));
    b.clear();
    expect(r.events).toEqual(['above', 'below', 'above', 'below', 'above', 'below']);
  });

  it('a whole-buffer move out of a watermark buffer fires its low mark', () => {
    const r = recorder();
    const b = r.buf(4);
    b.add(Buffer.alloc(10));
    const dst = new BufferChain();
    dst.move(b);
    expect(dst.length).toBe(10);
    expect(r.events).toEqual(['above', 'below']);
  });

  it('a callback that drains sees the new state and the edges stay paired', () => {
    const events: string[] = [];
    const b: WatermarkBuffer = new WatermarkBuffer(
      {
        onAboveHighWatermark: () => {
          events.push('above');
          b.drain(b.length);
        },
        onBelowLowWatermark: () => events.push('below'),
      },
      4,
    );
    b.add(Buffer.alloc(5));
    expect(events).toEqual(['above', 'below']);
    expect(b.highWatermarkTriggered()).toBe(false);
  });
});
