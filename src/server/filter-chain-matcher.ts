/**
 * Filter-chain selection (Envoy's FilterChainManagerImpl::findFilterChain), for the criteria sluice
 * parses. Each criterion narrows the candidates in Envoy's order, the most specific match winning
 * and a chain that leaves the criterion unset matching anything:
 *
 * 1. destination_port: equal to the socket's local port, else unset;
 * 2. server_names: the SNI exactly, else the longest matching wildcard (`*.example.com`), else unset;
 * 3. transport_protocol: equal to the detected one (`tls`, `raw_buffer`), else unset;
 * 4. application_protocols: the first of the client's ALPN list that a chain lists, else unset.
 *
 * When nothing matches, the listener's default_filter_chain is used, if any. Pure: no sockets.
 */
import type { FilterChainMatchConfig } from '../config/listener-config.js';

export interface MatchInput {
  readonly destinationPort: number;
  readonly serverName: string;
  readonly transportProtocol: string;
  readonly applicationProtocols: readonly string[];
}

interface Candidate<T> {
  readonly match: FilterChainMatchConfig;
  readonly value: T;
}

/** Keeps the candidates whose rank is best (lowest); rank undefined means "does not match". */
function narrow<T>(cands: readonly Candidate<T>[], rank: (m: FilterChainMatchConfig) => number | undefined): Candidate<T>[] {
  let best = Infinity;
  let out: Candidate<T>[] = [];
  for (const c of cands) {
    const r = rank(c.match);
    if (r === undefined || r > best) continue;
    if (r < best) {
      best = r;
      out = [];
    }
    out.push(c);
  }
  return out;
}

/** 0 exact, 1 + (labels skipped) for a wildcard, a large rank for "unset". */
function serverNameRank(names: readonly string[], sni: string): number | undefined {
  if (names.length === 0) return 1000;
  if (sni === '') return undefined;
  const host = sni.toLowerCase();
  if (names.includes(host)) return 0;
  let rank = 1;
  for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
    if (names.includes(`*${host.slice(dot)}`)) return rank;
    rank++;
  }
  return undefined;
}

export class FilterChainMatcher<T> {
  private readonly chains: readonly Candidate<T>[];

  constructor(
    chains: readonly { readonly match: FilterChainMatchConfig; readonly value: T }[],
    private readonly defaultChain: T | undefined,
  ) {
    this.chains = chains.map((c) => ({
      value: c.value,
      match: { ...c.match, serverNames: c.match.serverNames.map((n) => n.toLowerCase()) },
    }));
  }

  find(input: MatchInput): T | undefined {
    let c = narrow(this.chains, (m) => (m.destinationPort === undefined ? 1 : m.destinationPort === input.destinationPort ? 0 : undefined));
    c = narrow(c, (m) => serverNameRank(m.serverNames, input.serverName));
    c = narrow(c, (m) => (m.transportProtocol === '' ? 1 : m.transportProtocol === input.transportProtocol ? 0 : undefined));
    // The client's preference order decides between chains matching different protocols.
    const unset = input.applicationProtocols.length;
    c = narrow(c, (m) => {
      if (m.applicationProtocols.length === 0) return unset;
      let best: number | undefined;
      for (const p of m.applicationProtocols) {
        const i = input.applicationProtocols.indexOf(p);
        if (i !== -1 && (best === undefined || i < best)) best = i;
      }
      return best;
    });
    return c.length > 0 ? c[0]!.value : this.defaultChain;
  }
}
