import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HeaderMapImpl } from '../../../../codecs/index.js';
import { accessLogFileStats, BufferedLogSink, type LogTarget } from '../../../../src/access-log/access-log.js';
import { createAccessLogs, parseAccessLogs } from '../../../../src/access-log/config.js';
import { StreamInfoImpl } from '../../../../src/access-log/stream-info-impl.js';
import { ConfigError } from '../../../../src/config/config-error.js';
import { StatsStore } from '../../../../src/stats/store.js';

/** A target that records writes and completes them when told to. */
class ManualTarget implements LogTarget {
  writes: string[] = [];
  pending: Array<(err?: Error | null) => void> = [];
  writableLength = 0;
  write(chunk: string, cb: (err?: Error | null) => void): boolean {
    this.writes.push(chunk);
    this.writableLength += chunk.length;
    this.pending.push((err) => {
      this.writableLength -= chunk.length;
      cb(err);
    });
    return true;
  }
  completeAll(err?: Error): void {
    const p = this.pending;
    this.pending = [];
    for (const cb of p) cb(err);
  }
}

function info(path: string, code: number): StreamInfoImpl {
  const i = new StreamInfoImpl({ systemTime: () => Date.UTC(2024, 0, 1), approximateMonotonicTime: () => 0 });
  i.requestHeaders = HeaderMapImpl.fromObject({ ':method': 'GET', ':path': path, ':authority': 'h' });
  i.responseCode = code;
  return i;
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('BufferedLogSink', () => {
  it('batches the lines of one loop turn into one write', async () => {
    const store = new StatsStore();
    const target = new ManualTarget();
    const sink = new BufferedLogSink(target, accessLogFileStats(store));
    sink.write('a\n');
    sink.write('b\n');
    expect(target.writes).toEqual([]);
    await nextTurn();
    expect(target.writes).toEqual(['a\nb\n']);
    expect(store.counter('access_logs.file.write_buffered').value()).toBe(2);
    expect(store.gauge('access_logs.file.write_total_buffered').value()).toBe(4);
    target.completeAll();
    expect(store.counter('access_logs.file.write_completed').value()).toBe(1);
    expect(store.gauge('access_logs.file.write_total_buffered').value()).toBe(0);
  });

  it('drops and counts lines while the target is backed up past the bound', async () => {
    const store = new StatsStore();
    const target = new ManualTarget();
    const sink = new BufferedLogSink(target, accessLogFileStats(store), 10);
    sink.write('12345\n');
    await nextTurn();
    expect(target.writes).toEqual(['12345\n']);
    sink.write('67890\n');
    expect(store.counter('access_logs.file.write_dropped').value()).toBe(1);
    target.completeAll();
    sink.write('abc\n');
    await nextTurn();
    expect(target.writes).toEqual(['12345\n', 'abc\n']);
  });

  it('flush() resolves once queued lines are written, and counts failures', async () => {
    const store = new StatsStore();
    const target = new ManualTarget();
    const sink = new BufferedLogSink(target, accessLogFileStats(store));
    sink.write('x\n');
    let done = false;
    const p = sink.flush().then(() => {
      done = true;
    });
    expect(target.writes).toEqual(['x\n']);
    await Promise.resolve();
    expect(done).toBe(false);
    target.completeAll(new Error('EIO'));
    await p;
    expect(done).toBe(true);
    expect(store.counter('access_logs.file.write_failed').value()).toBe(1);
  });
});

describe('access log config', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('writes file logs with a text_format_source format', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-al-'));
    const path = join(dir, 'access.log');
    const configs = parseAccessLogs(
      [
        {
          name: 'envoy.access_loggers.file',
          typed_config: {
            '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
            path,
            log_format: { text_format_source: { inline_string: '%REQ(:PATH)% %RESPONSE_CODE%\n' } },
          },
        },
      ],
      'access_log',
    );
    const [log] = createAccessLogs(configs, { scope: new StatsStore() });
    log!.log(info('/a', 200));
    log!.log(info('/b', 404));
    await log!.flush();
    expect(readFileSync(path, 'utf8')).toBe('/a 200\n/b 404\n');
  });

  it('uses the default format without one, and the legacy `format` field', async () => {
    const target = new ManualTarget();
    const configs = parseAccessLogs(
      [
        { name: 'envoy.access_loggers.stdout', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog' } },
        { name: 'envoy.access_loggers.stdout', typed_config: {} },
      ],
      'access_log',
    );
    const logs = createAccessLogs(configs, { scope: new StatsStore(), stdout: target });
    logs[0]!.log(info('/d', 200));
    const flushed = logs[0]!.flush();
    target.completeAll();
    await flushed;
    expect(target.writes).toEqual(['[2024-01-01T00:00:00.000Z] "GET /d -" 200 - 0 0 - - "-" "-" "-" "h" "-"\n']);
    expect(configs[1]!.kind).toBe('stdout');
    const legacy = parseAccessLogs([{ name: 'envoy.file_access_log', typed_config: { path: '/dev/null', format: '%PROTOCOL%\n' } }], 'al');
    expect(legacy[0]!.kind).toBe('file');
  });

  it('supports json_format in log_format', async () => {
    const target = new ManualTarget();
    const configs = parseAccessLogs(
      [{ name: 'envoy.access_loggers.stderr', typed_config: { log_format: { json_format: { code: '%RESPONSE_CODE%', path: '%REQ(:PATH)%' } } } }],
      'access_log',
    );
    const logs = createAccessLogs(configs, { scope: new StatsStore(), stderr: target });
    logs[0]!.log(info('/j', 201));
    await nextTurn();
    expect(target.writes).toEqual(['{"code":201,"path":"/j"}\n']);
  });

  it.each([
    [[{ name: 'envoy.access_loggers.file', filter: { status_code_filter: {} }, typed_config: { path: '/x' } }], 'access_log[0]', 'field "filter" is not supported by sluice yet'],
    [[{ name: 'x', typed_config: { '@type': 'type.googleapis.com/foo.Bar' } }], 'access_log[0].typed_config.@type', 'unsupported access logger type "type.googleapis.com/foo.Bar"'],
    [[{ name: 'envoy.access_loggers.nope' }], 'access_log[0].name', 'unsupported access logger "envoy.access_loggers.nope"'],
    [[{ name: 'envoy.access_loggers.file', typed_config: {} }], 'access_log[0].typed_config.path', 'required field is missing'],
    [
      [{ name: 'envoy.access_loggers.file', typed_config: { path: '/x', format: 'a', log_format: { text_format: 'b' } } }],
      'access_log[0].typed_config',
      'at most one of log_format, format, json_format may be set',
    ],
    [
      [{ name: 'envoy.access_loggers.stdout', typed_config: { log_format: { text_format: '%BOGUS%' } } }],
      'access_log[0].typed_config.log_format.text_format',
      'unknown or unsupported command operator %BOGUS%',
    ],
    [
      [{ name: 'envoy.access_loggers.stdout', typed_config: { log_format: { text_format: 'a', json_format: {} } } }],
      'access_log[0].typed_config.log_format',
      'exactly one of text_format, json_format, text_format_source must be set',
    ],
  ])('rejects %j', (raw, path, detail) => {
    let err: unknown;
    try {
      parseAccessLogs(raw, 'access_log');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems[0]).toEqual({ path, detail });
  });

  it('fails when a log file cannot be opened', () => {
    const configs = parseAccessLogs([{ name: 'envoy.access_loggers.file', typed_config: { path: '/nonexistent-dir/x/access.log' } }], 'al');
    expect(() => createAccessLogs(configs, { scope: new StatsStore() })).toThrow(/ENOENT/);
  });
});
