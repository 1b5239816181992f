import { describe, expect, it } from 'vitest';
import { DEFAULT_INITIAL_WINDOW_SIZE, RecvWindow, SendWindow } from '../../../../codecs/http2/flow-control.js';

const MAX = 2 ** 31 - 1;

describe('SendWindow', () => {
  it('starts at 65535 and spends what is sent', () => {
    const w = new SendWindow();
    expect(w.window).toBe(DEFAULT_INITIAL_WINDOW_SIZE);
    expect(w.send(65535)).toBe(true);
    expect(w.available).toBe(0);
    expect(w.send(1)).toBe(false);
    expect(w.window).toBe(0);
  });

  it('refuses to send more than available, leaving the window unchanged', () => {
    const w = new SendWindow(10);
    expect(w.send(11)).toBe(false);
    expect(w.window).toBe(10);
    expect(w.send(0)).toBe(true);
  });

  it.each([
    ['reaches exactly 2^31-1', 0, MAX, true, MAX],
    ['one past 2^31-1 is a FLOW_CONTROL_ERROR', 1, MAX, false, 1],
    ['from the default window', 65535, MAX - 65535, true, MAX],
    ['from the default window, one too many', 65535, MAX - 65534, false, 65535],
    ['from a negative window', -100, MAX, true, MAX - 100],
  ])('WINDOW_UPDATE %s', (_name, initial, increment, ok, after) => {
    const w = new SendWindow(initial);
    expect(w.increase(increment)).toBe(ok);
    expect(w.window).toBe(after);
  });

  it('goes negative after SETTINGS_INITIAL_WINDOW_SIZE shrinks, and needs updates to recover', () => {
    const w = new SendWindow(65535);
    w.send(60000);
    expect(w.applyInitialWindowDelta(16384 - 65535)).toBe(true);
    expect(w.window).toBe(5535 - 49151);
    expect(w.available).toBe(0);
    expect(w.send(1)).toBe(false);
    expect(w.increase(43616)).toBe(true);
    expect(w.window).toBe(0);
    expect(w.increase(10)).toBe(true);
    expect(w.available).toBe(10);
  });

  it('initial window delta overflow is a FLOW_CONTROL_ERROR', () => {
    const w = new SendWindow(65535);
    expect(w.applyInitialWindowDelta(MAX - 65535)).toBe(true);
    expect(w.window).toBe(MAX);
    const v = new SendWindow(65535);
    v.increase(1000);
    expect(v.applyInitialWindowDelta(MAX - 65535)).toBe(false);
    expect(v.window).toBe(66535);
  });
});

describe('RecvWindow', () => {
  it('accepts data up to the window and flags more as a FLOW_CONTROL_ERROR', () => {
    const w = new RecvWindow(100);
    expect(w.onDataReceived(60)).toBe(true);
    expect(w.onDataReceived(40)).toBe(true);
    expect(w.window).toBe(0);
    expect(w.onDataReceived(1)).toBe(false);
    expect(w.window).toBe(0);
  });

  it('sends WINDOW_UPDATE once at least half the window is unclaimed', () => {
    const w = new RecvWindow(100);
    w.onDataReceived(100);
    expect(w.consumed(30)).toBe(0);
    expect(w.consumed(19)).toBe(0);
    expect(w.unclaimed).toBe(49);
    expect(w.consumed(1)).toBe(50);
    expect(w.window).toBe(50);
    expect(w.unclaimed).toBe(0);
    expect(w.consumed(50)).toBe(50);
    expect(w.window).toBe(100);
  });

  it('returns nothing for data received but not consumed (backpressure)', () => {
    const w = new RecvWindow(65535);
    w.onDataReceived(65535);
    expect(w.window).toBe(0);
    expect(w.consumed(0)).toBe(0);
    expect(w.onDataReceived(1)).toBe(false);
  });

  it('follows our SETTINGS_INITIAL_WINDOW_SIZE, possibly below zero', () => {
    const w = new RecvWindow(65535);
    w.onDataReceived(65535);
    expect(w.applyInitialWindowDelta(1000 - 65535)).toBe(true);
    expect(w.window).toBe(1000 - 65535);
    expect(w.target).toBe(1000);
    expect(w.onDataReceived(1)).toBe(false);
    // Consuming what was received returns credit at the new, smaller target's half.
    expect(w.consumed(499)).toBe(0);
    expect(w.consumed(1)).toBe(500);
    expect(w.applyInitialWindowDelta(MAX)).toBe(false);
  });

  it('raises the target (connection window) with an immediate WINDOW_UPDATE', () => {
    const w = new RecvWindow(65535);
    expect(w.raiseTarget(1 << 20)).toBe((1 << 20) - 65535);
    expect(w.window).toBe(1 << 20);
    expect(w.raiseTarget(1000)).toBe(0);
    expect(w.raiseTarget(2 ** 40)).toBe(MAX - (1 << 20));
    expect(w.window).toBe(MAX);
    expect(w.target).toBe(MAX);
  });
});
