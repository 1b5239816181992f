/** One tag taken out of a stat name, e.g. `envoy.cluster_name` = `backend`. */
export interface Tag {
  readonly name: string;
  readonly value: string;
}

export interface TagExtraction {
  /** The name with every tag's characters removed: `cluster.upstream_cx_total`. */
  readonly extractedName: string;
  /** Tags in Envoy's order: the suffix extractors first, then those keyed by the first token. */
  readonly tags: readonly Tag[];
}

interface Extractor {
  readonly name: string;
  readonly regex: RegExp;
  /** A fast pre-check: the name must contain this (Envoy's `substr`). */
  readonly substr: string;
}

function ex(name: string, regex: string, substr = ''): Extractor {
  return { name, regex: new RegExp(regex, 'd'), substr };
}

/**
 * Envoy's default tag extractors (source/common/config/well_known_names.cc), for the stats sluice
 * emits. In each regex, group 1 is the text removed from the name and group 2 (when present) the
 * tag value. POSIX classes are spelled out since JS has none.
 */
const NO_PREFIX: readonly Extractor[] = [
  // *_rq(_<response_code>)
  ex('envoy.response_code', String.raw`_rq(_(\d{3}))$`, '_rq_'),
  // *_rq_(<response_code_class>)xx
  ex('envoy.response_code_class', String.raw`_rq_(\d)xx$`, '_rq_'),
];

const BY_PREFIX: ReadonlyMap<string, readonly Extractor[]> = new Map([
  [
    'http',
    [
      // http.[<stat_prefix>.]user_agent.(<user_agent>.)<base_stat>
      ex('envoy.http_user_agent', String.raw`^http(?=\.).*?\.user_agent\.((.*?)\.)\w+?$`, '.user_agent.'),
      // http.[<stat_prefix>.]fault.(<downstream_cluster>.)<base_stat>
      ex('envoy.fault_downstream_cluster', String.raw`^http(?=\.).*?\.fault\.((.*?)\.)\w+?$`, '.fault.'),
      // http.(<stat_prefix>.)*
      ex('envoy.http_conn_manager_prefix', String.raw`^http\.((.*?)\.)`),
      // http.[<stat_prefix>.]rds.(<route_config_name>.)<base_stat>
      ex('envoy.rds_route_config', String.raw`^http(?=\.).*?\.rds\.((.*?)\.)\w+?$`, '.rds.'),
    ],
  ],
  [
    'vhost',
    [
      // vhost.[<virtual host name>.]vcluster.(<virtual_cluster_name>.)<base_stat>
      ex('envoy.virtual_cluster', String.raw`^vhost(?=\.).*?\.vcluster\.((.*?)\.)\w+?$`, '.vcluster.'),
      // vhost.(<virtual host name>.)*
      ex('envoy.virtual_host', String.raw`^vhost\.((.*?)\.)`),
    ],
  ],
  [
    'listener',
    [
      // listener.[<address>.]ssl.cipher.(<cipher>)
      ex('envoy.ssl_cipher', String.raw`^listener(?=\.).*?\.ssl\.cipher(\.(.*?))$`),
      // listener.[<address>.]http.(<stat_prefix>.)*
      ex('envoy.http_conn_manager_prefix', String.raw`^listener(?=\.).*?\.http\.((.*?)\.)`, '.http.'),
      // listener.(<address>.)*
      ex('envoy.listener_address', String.raw`^listener\.(((?:[_.0-9]*|[_\[\]aAbBcCdDeEfF0-9]*))\.)`),
    ],
  ],
  [
    'cluster',
    [
      // cluster.[<cluster_name>.]ssl.ciphers.(<cipher>)
      ex('envoy.ssl_cipher_suite', String.raw`^cluster(?=\.).*?\.ssl\.ciphers(\.(.*?))$`, '.ssl.ciphers.'),
      // cluster.(<cluster_name>.)*
      ex('envoy.cluster_name', String.raw`^cluster\.(([^\.]+)\.)`),
    ],
  ],
  // tcp.(<stat_prefix>.)<base_stat>
  ['tcp', [ex('envoy.tcp_prefix', String.raw`^tcp\.((.*?)\.)\w+?$`)]],
  // connection_limit.(<stat_prefix>.)<base_stat>
  ['connection_limit', [ex('envoy.connection_limit_prefix', String.raw`^connection_limit\.((.*?)\.)\w+?$`)]],
  // listener_manager.(worker_<id>.)*
  ['listener_manager', [ex('envoy.worker_id', String.raw`^listener_manager\.((worker_\d+)\.)`, 'listener_manager.worker_')]],
]);

/**
 * Splits stat names into a tag-extracted name and tags, as Envoy's TagProducerImpl does: every
 * matching extractor runs on the original name, and the union of their removed ranges is cut out.
 * Results are cached per name (stat names are few and long-lived).
 */
export class TagExtractor {
  private readonly cache = new Map<string, TagExtraction>();

  extract(name: string): TagExtraction {
    let out = this.cache.get(name);
    if (out === undefined) {
      out = extractTags(name);
      this.cache.set(name, out);
    }
    return out;
  }
}

export function extractTags(name: string): TagExtraction {
  const tags: Tag[] = [];
  const removed: Array<[number, number]> = [];
  const apply = (e: Extractor): void => {
    if (e.substr !== '' && !name.includes(e.substr)) return;
    const m = e.regex.exec(name);
    if (m === null || m.indices === undefined) return;
    const removeRange = m.indices[1];
    if (removeRange === undefined) return;
    const value = m[2] ?? m[1] ?? '';
    tags.push({ name: e.name, value });
    removed.push([removeRange[0], removeRange[1]]);
  };
  for (const e of NO_PREFIX) apply(e);
  const dot = name.indexOf('.');
  if (dot > 0) {
    const group = BY_PREFIX.get(name.slice(0, dot));
    if (group !== undefined) for (const e of group) apply(e);
  }
  if (removed.length === 0) return { extractedName: name, tags };
  removed.sort((a, b) => a[0] - b[0]);
  let extracted = '';
  let pos = 0;
  for (const [start, end] of removed) {
    if (start > pos) extracted += name.slice(pos, start);
    pos = Math.max(pos, end);
  }
  extracted += name.slice(pos);
  return { extractedName: extracted, tags };
}
