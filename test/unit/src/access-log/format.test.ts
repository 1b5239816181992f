import { describe, expect, it } from 'vitest';
import { HeaderMapImpl } from '../../../../codecs/index.js';
import { compileTextFormat, DEFAULT_FORMAT, responseFlagsString } from '../../../../src/access-log/format.js';
import { compileJsonFormat } from '../../../../src/access-log/json-format.js';
import { StreamInfoImpl } from '../../../../src/access-log/stream-info-impl.js';
import { compileTimeFormat } from '../../../../src/access-log/time-format.js';
import { ConfigError } from '../../../../src/config/config-error.js';

const START = Date.UTC(2016, 3, 15, 20, 17, 0, 310);

/** The StreamInfo of Envoy's documented example line. */
function exampleInfo(): StreamInfoImpl {
  const info = new StreamInfoImpl({ systemTime: () => START, approximateMonotonicTime: () => 5000 });
  info.protocol = 'HTTP/2';
  info.responseCode = 204;
  info.responseCodeDetails = 'via_upstream';
  info.bytesReceived = 154;
  info.bytesSent = 0;
  info.endMonotonic = 5226.9;
  info.upstreamHost = { address: '10.0.2.1', port: 80 };
  info.upstreamCluster = 'locations-cluster';
  info.routeName = 'locations-route';
  info.downstreamRemoteAddress = { address: '10.0.35.28', port: 40022, family: 'IPv4' };
  info.downstreamLocalAddress = { address: '::1', port: 10000, family: 'IPv6' };
  info.requestHeaders = HeaderMapImpl.fromObject({
    ':method': 'POST',
    ':path': '/api/v1/locations',
    ':authority': 'locations',
    'x-forwarded-for': '10.0.35.28',
    'user-agent': 'nsq2http',
    'x-request-id': 'cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2',
  });
  info.responseHeaders = HeaderMapImpl.fromObject({ ':status': '204', 'x-envoy-upstream-service-time': '100' });
  return info;
}

function fmt(format: string, info = exampleInfo()): string {
  return compileTextFormat(format, 'f').format(info);
}

describe('text format', () => {
  it("is Envoy's default format, byte for byte", () => {
    expect(DEFAULT_FORMAT).toBe(
      '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
        '%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" ' +
        '"%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n',
    );
  });

  it("renders Envoy's documented example line from the default format", () => {
    expect(fmt(DEFAULT_FORMAT)).toBe(
      '[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" ' +
        '"cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "10.0.2.1:80"\n',
    );
  });

  it('renders a request that never got a response: code 0, dashes for the rest', () => {
    const info = new StreamInfoImpl({ systemTime: () => START, approximateMonotonicTime: () => 0 });
    info.requestHeaders = HeaderMapImpl.fromObject({ ':method': 'GET', ':path': '/', ':authority': 'a' });
    info.responseFlags.add('DC');
    expect(fmt(DEFAULT_FORMAT, info)).toBe('[2016-04-15T20:17:00.310Z] "GET / -" 0 DC 0 0 - - "-" "-" "-" "a" "-"\n');
  });

  it.each([
    ['%PROTOCOL%', 'HTTP/2'],
    ['%RESPONSE_CODE%', '204'],
    ['%RESPONSE_CODE_DETAILS%', 'via_upstream'],
    ['%RESPONSE_FLAGS%', '-'],
    ['%BYTES_RECEIVED%', '154'],
    ['%BYTES_SENT%', '0'],
    ['%DURATION%', '226'],
    ['%UPSTREAM_HOST%', '10.0.2.1:80'],
    ['%UPSTREAM_REMOTE_ADDRESS%', '10.0.2.1:80'],
    ['%UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%', '10.0.2.1'],
    ['%UPSTREAM_CLUSTER%', 'locations-cluster'],
    ['%UPSTREAM_TRANSPORT_FAILURE_REASON%', '-'],
    ['%DOWNSTREAM_REMOTE_ADDRESS%', '10.0.35.28:40022'],
    ['%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%', '10.0.35.28'],
    ['%DOWNSTREAM_REMOTE_PORT%', '40022'],
    ['%DOWNSTREAM_LOCAL_ADDRESS%', '[::1]:10000'],
    ['%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%', '::1'],
    ['%DOWNSTREAM_LOCAL_PORT%', '10000'],
    ['%ROUTE_NAME%', 'locations-route'],
    ['%REQ(:METHOD)%', 'POST'],
    ['%REQUEST_HEADER(user-agent)%', 'nsq2http'],
    ['%REQ(X-MISSING)%', '-'],
    ['%REQ(X-MISSING?:AUTHORITY)%', 'locations'],
    ['%REQ(USER-AGENT?:AUTHORITY)%', 'nsq2http'],
    ['%REQ(X-REQUEST-ID):8%', 'cc21d9b0'],
    ['%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%', '100'],
    ['%RESPONSE_HEADER(:STATUS)%', '204'],
    ['%RESP(X-NONE)%', '-'],
    ['%START_TIME%', '2016-04-15T20:17:00.310Z'],
    ['%START_TIME(%Y/%m/%dT%H:%M:%S%z %s)%', '2016/04/15T20:17:00+0000 1460751420'],
    ['%START_TIME(%s.%3f)%', '1460751420.310'],
    ['%START_TIME(%s.%6f)%', '1460751420.310000'],
    ['%START_TIME(%f)%', '310000000'],
    ['%START_TIME(%E3S|%a %b %e %j|%T %F %D %I%p)%', '00.310|Fri Apr 15 106|20:17:00 2016-04-15 04/15/16 08PM'],
    ['100%% sure: %PROTOCOL%', '100% sure: HTTP/2'],
    ['no operators at all', 'no operators at all'],
  ])('%s -> %s', (format, expected) => {
    expect(fmt(format)).toBe(expected);
  });

  it('prints response flags comma-joined in Envoy order', () => {
    expect(responseFlagsString(new Set(['URX', 'UF']))).toBe('UF,URX');
    expect(responseFlagsString(new Set(['DC', 'NR', 'UH', 'SI', 'DPE', 'UPE', 'UT', 'LR', 'UR', 'UC', 'UO', 'DT', 'NC']))).toBe(
      'UH,UT,LR,UR,UC,UO,NR,DC,SI,DPE,DT,UPE,NC',
    );
    expect(responseFlagsString(new Set())).toBeUndefined();
  });

  it('omit_empty_values prints unset values as nothing', () => {
    const f = compileTextFormat('[%REQ(X-NONE)%][%UPSTREAM_TRANSPORT_FAILURE_REASON%]', 'f', { omitEmptyValues: true });
    expect(f.format(exampleInfo())).toBe('[][]');
  });

  it.each([
    ['%NOT_A_THING%', 'unknown or unsupported command operator %NOT_A_THING%'],
    ['%REQ%', '%REQ% needs a header name: %REQ(NAME)%'],
    ['%REQ(a?b?c)%', 'invalid header specification "a?b?c": expected NAME or NAME?ALTERNATIVE'],
    ['%PROTOCOL(x)%', '%PROTOCOL% takes no argument'],
    ['50% off', 'invalid command operator at position 2 of "50% off"'],
    ['%START_TIME(%Q)%', 'time format "%Q" has an unsupported specifier "%Q"'],
  ])('rejects %s', (format, detail) => {
    let err: unknown;
    try {
      compileTextFormat(format, 'access_log[0].typed_config.format');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).path).toBe('access_log[0].typed_config.format');
    expect((err as ConfigError).detail).toBe(detail);
  });
});

describe('json format', () => {
  it('keeps types for single operators, sorts keys, nests objects and prints unset values as null', () => {
    const f = compileJsonFormat(
      {
        status: '%RESPONSE_CODE%',
        proto: '%PROTOCOL%',
        path: 'path=%REQ(:PATH)%',
        missing: '%REQ(X-NONE)%',
        nested: { bytes: '%BYTES_RECEIVED%', literal: 7, flag: true },
      },
      'json_format',
    );
    expect(f.format(exampleInfo())).toBe(
      '{"missing":null,"nested":{"bytes":154,"flag":true,"literal":7},"path":"path=/api/v1/locations","proto":"HTTP/2","status":204}\n',
    );
  });

  it('omit_empty_values leaves out unset keys', () => {
    const f = compileJsonFormat({ a: '%REQ(X-NONE)%', b: '%PROTOCOL%' }, 'json_format', { omitEmptyValues: true });
    expect(f.format(exampleInfo())).toBe('{"b":"HTTP/2"}\n');
  });

  it('rejects lists and bad operators with the path of the value', () => {
    expect(() => compileJsonFormat({ a: ['x'] }, 'json_format')).toThrow('json_format.a: expected a format string, number, boolean or object, got a list');
    expect(() => compileJsonFormat({ a: { b: '%NOPE%' } }, 'json_format')).toThrow('json_format.a.b: unknown or unsupported command operator %NOPE%');
  });
});

describe('time format', () => {
  it('formats every supported specifier in UTC', () => {
    const tf = compileTimeFormat('%Y %y %C %m %d %e %H %k %I %l %M %S %p %j %a %A %b %h %B %u %w %z %Z %s %R %n%t%%');
    if ('error' in tf) throw new Error(tf.error);
    expect(tf.format(Date.UTC(2024, 0, 7, 5, 6, 7, 8))).toBe('2024 24 20 01 07  7 05  5 05  5 06 07 AM 007 Sun Sunday Jan Jan January 7 0 +0000 UTC 1704603967 05:06 \n\t%');
  });
});

describe('connection and timing operators', () => {
  /** The example request, with the connection and the request / response timestamps known. */
  function timedInfo(): StreamInfoImpl {
    const info = exampleInfo();
    info.connectionId = 42;
    info.requestedServerName = 'locations.example.com';
    info.lastDownstreamRxMonotonic = 5012.7;
    info.firstUpstreamRxMonotonic = 5120.2;
    info.lastDownstreamTxMonotonic = 5226.9;
    return info;
  }

  it.each([
    ['%CONNECTION_ID%', '42'],
    ['%REQUESTED_SERVER_NAME%', 'locations.example.com'],
    ['%REQUESTED_SERVER_NAME:9%', 'locations'],
    // Whole milliseconds, truncated: 12.7 -> 12, 120.2 -> 120, 226.9 - 120.2 = 106.7 -> 106.
    ['%REQUEST_DURATION%', '12'],
    ['%RESPONSE_DURATION%', '120'],
    ['%RESPONSE_TX_DURATION%', '106'],
    ['%DURATION% %REQUEST_DURATION% %RESPONSE_DURATION% %RESPONSE_TX_DURATION%', '226 12 120 106'],
  ])('%s -> %s', (format, expected) => {
    expect(fmt(format, timedInfo())).toBe(expected);
  });

  it('prints 0 for a missing connection id and "-" for what did not happen', () => {
    // The example request has no connection id, no SNI, and none of the timestamps.
    expect(fmt('%CONNECTION_ID% %REQUESTED_SERVER_NAME% %REQUEST_DURATION% %RESPONSE_DURATION% %RESPONSE_TX_DURATION%')).toBe('0 - - - -');
  });

  it('a response that was never completed downstream has no %RESPONSE_TX_DURATION%', () => {
    const info = timedInfo();
    info.lastDownstreamTxMonotonic = undefined;
    expect(fmt('%RESPONSE_DURATION% %RESPONSE_TX_DURATION%', info)).toBe('120 -');
  });

  it('a local reply (no upstream) has a request duration but no response durations', () => {
    const info = timedInfo();
    info.firstUpstreamRxMonotonic = undefined;
    expect(fmt('%REQUEST_DURATION% %RESPONSE_DURATION% %RESPONSE_TX_DURATION%', info)).toBe('12 - -');
  });

  it('keeps the numbers typed in JSON', () => {
    const f = compileJsonFormat(
      { id: '%CONNECTION_ID%', sni: '%REQUESTED_SERVER_NAME%', rq: '%REQUEST_DURATION%', rs: '%RESPONSE_DURATION%', tx: '%RESPONSE_TX_DURATION%' },
      'json_format',
    );
    expect(f.format(timedInfo())).toBe('{"id":42,"rq":12,"rs":120,"sni":"locations.example.com","tx":106}\n');
    expect(f.format(exampleInfo())).toBe('{"id":0,"rq":null,"rs":null,"sni":null,"tx":null}\n');
  });

  it.each(['CONNECTION_ID', 'REQUESTED_SERVER_NAME', 'REQUEST_DURATION', 'RESPONSE_DURATION', 'RESPONSE_TX_DURATION'])('%%%s(x)%% is rejected: it takes no argument', (name) => {
    expect(() => compileTextFormat(`%${name}(x)%`, 'f')).toThrow(`f: %${name}% takes no argument`);
  });
});
