import { describe, expect, it } from 'vitest';
import { StreamStore } from '../../../../codecs/http2/stream-store.js';

describe('StreamStore', () => {
  it('knows the parity of each side and the next local id', () => {
    const server = new StreamStore<{ id: number }>('server');
    expect(server.isPeerInitiated(1)).toBe(true);
    expect(server.isPeerInitiated(2)).toBe(false);
    expect(server.nextLocalId()).toBe(2);
    const client = new StreamStore<{ id: number }>('client');
    expect(client.isPeerInitiated(2)).toBe(true);
    expect(client.nextLocalId()).toBe(1);
    client.useLocalId(1);
    expect(client.nextLocalId()).toBe(3);
  });

  it('accepts only increasing peer ids of the peer parity (RFC 9113 §5.1.1)', () => {
    const s = new StreamStore<{ id: number }>('server');
    expect(s.isValidNewPeerId(1)).toBe(true);
    expect(s.isValidNewPeerId(2)).toBe(false);
    s.usePeerId(5);
    expect(s.isValidNewPeerId(3)).toBe(false);
    expect(s.isValidNewPeerId(5)).toBe(false);
    expect(s.isValidNewPeerId(7)).toBe(true);
    expect(s.highestPeer).toBe(5);
  });

  it('classifies ids it does not hold: idle, closed with its cause, or forgotten', () => {
    const s = new StreamStore<{ id: number }>('server', 3);
    s.usePeerId(9);
    s.add({ id: 9 });
    expect(s.classify(11)).toEqual({ kind: 'idle' });
    expect(s.classify(2)).toEqual({ kind: 'idle' });
    // Skipped ids are closed (implicitly), but nothing is known about them.
    expect(s.classify(7)).toEqual({ kind: 'forgotten' });
    s.remove(9, 'remote_reset');
    expect(s.get(9)).toBeUndefined();
    expect(s.classify(9)).toEqual({ kind: 'closed', cause: 'remote_reset' });
    s.rememberClosed(1, 'local_reset');
    s.rememberClosed(3, 'end_stream');
    expect(s.classify(1)).toEqual({ kind: 'closed', cause: 'local_reset' });
    // The memory is a bounded ring: the oldest entry goes first.
    s.rememberClosed(5, 'end_stream');
    expect(s.classify(9)).toEqual({ kind: 'forgotten' });
    expect(s.classify(5)).toEqual({ kind: 'closed', cause: 'end_stream' });
  });

  it('counts active streams per initiator', () => {
    const s = new StreamStore<{ id: number }>('client');
    s.activate(1);
    s.activate(3);
    s.activate(2);
    expect([s.activeLocal, s.activePeer]).toEqual([2, 1]);
    s.deactivate(1);
    s.deactivate(2);
    expect([s.activeLocal, s.activePeer]).toEqual([1, 0]);
  });
});
