import { describe, expect, it } from 'vitest';
import { HeaderMapImpl } from '../../../../codecs/index.js';
import { parseHeaderValueFormat } from '../../../../src/router/header-formatter.js';
import { compileSafeRegex, headerValue, parseQueryParameters, pathWithoutQuery, StringMatcher } from '../../../../src/router/route-matchers.js';
import { streamInfo } from './helpers.js';

describe('compileSafeRegex', () => {
  it.each<[string, string, boolean]>([
    ['/api/v[0-9]+', '/api/v12', true],
    ['/api/v[0-9]+', '/api/v12/x', false],
    ['/api/v[0-9]+', 'x/api/v1', false],
    ['a|b', 'a', true],
    // Alternation stays inside the full-match anchor.
    ['a|b', 'ab', false],
    ['(?i)abc', 'ABC', true],
    ['(?P<ver>v\\d)/x', 'v1/x', true],
    ['\\Aabc\\z', 'abc', true],
    ['[(?=]x', '(x', true],
    ['[]a]+', ']a]', true],
    ['\\.jpg', 'a.jpg', false],
    ['.*\\.jpg', 'a.jpg', true],
  ])('%s on %s: %s', (re, input, expected) => {
    const r = compileSafeRegex(re);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.value.test(input)).toBe(expected);
  });

  it.each([
    ['a(?=b)', 'lookaround is not supported (RE2 syntax)'],
    ['a(?!b)', 'lookaround is not supported (RE2 syntax)'],
    ['(?<=a)b', 'lookaround is not supported (RE2 syntax)'],
    ['(?<!a)b', 'lookaround is not supported (RE2 syntax)'],
    ['(a)\\1', 'backreferences are not supported (RE2 syntax)'],
    ['(?<n>a)\\k<n>', 'backreferences are not supported (RE2 syntax)'],
    ['a(?i)b', 'inline flags are only supported at the start'],
    ['abc\\', 'trailing backslash'],
  ])('rejects %s', (re, why) => {
    const r = compileSafeRegex(re);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toBe(`invalid regex ${JSON.stringify(re)}: ${why}`);
  });
});

describe('query and header helpers', () => {
  it.each<[string, [string, string][]]>([
    ['/p', []],
    ['/p?', []],
    ['/p?a=1&b&c=&a=2', [['a', '1'], ['b', ''], ['c', '']]],
    ['/p?x=a%20b&y=%ZZ', [['x', 'a b'], ['y', '%ZZ']]],
    ['/p?x=1#y=2', [['x', '1']]],
    ['/p?&&x=1&', [['x', '1']]],
    ['/p?a%3Db=c', [['a=b', 'c']]],
  ])('parseQueryParameters(%s)', (path, expected) => {
    expect([...parseQueryParameters(path)]).toEqual(expected);
  });

  it.each([
    ['/a?b', '/a'],
    ['/a#b?c', '/a'],
    ['/a', '/a'],
    ['', ''],
  ])('pathWithoutQuery(%s) = %s', (path, expected) => {
    expect(pathWithoutQuery(path)).toBe(expected);
  });

  it('headerValue joins several values with ","', () => {
    const h = HeaderMapImpl.fromObject({ a: ['1', '2'], b: '3' });
    expect(headerValue(h, 'a')).toBe('1,2');
    expect(headerValue(h, 'b')).toBe('3');
    expect(headerValue(h, 'c')).toBeUndefined();
  });

  it('StringMatcher ignore_case lowercases both sides, but not for regexes', () => {
    expect(new StringMatcher('suffix', '.COM', true, undefined).match('a.com')).toBe(true);
    expect(new StringMatcher('suffix', '.COM', false, undefined).match('a.com')).toBe(false);
    const re = compileSafeRegex('abc');
    if (!re.ok) throw new Error(re.message);
    expect(new StringMatcher('safe_regex', '', true, re.value).match('ABC')).toBe(false);
  });
});

describe('header value formats', () => {
  it.each<[string, string]>([
    ['plain', 'plain'],
    ['%%', '%'],
    ['a%%b%%', 'a%b%'],
    ['%DOWNSTREAM_REMOTE_ADDRESS%', '10.0.0.7:51000'],
    ['%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%', '10.0.0.7'],
    ['%DOWNSTREAM_REMOTE_PORT%', '51000'],
    ['%DOWNSTREAM_LOCAL_ADDRESS%', '127.0.0.1:10000'],
    ['%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%', '127.0.0.1'],
    ['%DOWNSTREAM_LOCAL_PORT%', '10000'],
    ['%UPSTREAM_REMOTE_ADDRESS%', '[::1]:8080'],
    ['%UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%', '::1'],
    ['%UPSTREAM_CLUSTER%', 'backend'],
    ['%PROTOCOL%', 'HTTP/1.1'],
    ['%ROUTE_NAME%', 'r1'],
    ['%START_TIME%', '2024-01-02T03:04:05.678Z'],
    ['%REQ(X-A)%', 'va'],
    ['%REQ(x-missing?x-b)%', 'vb'],
    ['%REQ(x-missing)%', ''],
    ['%REQ(:AUTHORITY)%', 'h.example'],
    ['[%PROTOCOL%] %REQ(x-a)% 100%%', '[HTTP/1.1] va 100%'],
  ])('%s -> %s', (format, expected) => {
    const r = parseHeaderValueFormat(format);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.value.format({ streamInfo: streamInfo(), requestHeaders: HeaderMapImpl.fromObject({ ':authority': 'h.example', 'x-a': 'va', 'x-b': 'vb' }) })).toBe(expected);
  });

  it('a literal format is a constant', () => {
    const r = parseHeaderValueFormat('a%%b');
    expect(r.ok && r.value.constant).toBe('a%b');
    const v = parseHeaderValueFormat('%PROTOCOL%');
    expect(v.ok && v.value.constant).toBeUndefined();
  });

  it('without a stream info every variable is empty', () => {
    const r = parseHeaderValueFormat('%DOWNSTREAM_REMOTE_ADDRESS%%PROTOCOL%%START_TIME%%UPSTREAM_REMOTE_ADDRESS%');
    expect(r.ok && r.value.format({ streamInfo: undefined, requestHeaders: undefined })).toBe('');
  });

  it.each([
    ['%', 'unterminated formatter at position 0 (a literal "%" is written "%%")'],
    ['a%b', 'unterminated formatter at position 1 (a literal "%" is written "%%")'],
    ['%REQ(a b)%', 'invalid header name in %REQ(a b)%'],
    ['%REQ(a?b?c)%', 'invalid header name in %REQ(a?b?c)%'],
    ['%REQ(a%', 'malformed formatter %REQ(a%: expected ")" before "%"'],
    ['%START_TIME(%Y)%', 'malformed formatter %START_TIME(%: expected ")" before "%"'],
    ['%START_TIME(s)%', '%START_TIME(s)% with a custom format is not supported by sluice yet'],
  ])('rejects %s', (format, message) => {
    expect(parseHeaderValueFormat(format)).toEqual({ ok: false, message });
  });

  it('unknown variables name themselves and the supported list', () => {
    const r = parseHeaderValueFormat('x-%HOSTNAME_X%');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/^%HOSTNAME_X% is not a supported header formatter \(supported: .*PROTOCOL.*REQ\(header-name\)\)$/);
    const f = parseHeaderValueFormat('%RESP(x)%');
    expect(f.ok).toBe(false);
    if (!f.ok) expect(f.message).toMatch(/^%RESP\(\.\.\.\)% is not a supported header formatter/);
  });
});
