/** Counters only go up; their value is exported as a total. */
export interface Counter {
  readonly name: string;
  inc(n?: number): void;
  value(): number;
}

/** Gauges go up and down. */
export interface Gauge {
  readonly name: string;
  inc(n?: number): void;
  dec(n?: number): void;
  set(v: number): void;
  value(): number;
}

/** Records values for percentiles (durations in ms, sizes in bytes). */
export interface Histogram {
  readonly name: string;
  recordValue(v: number): void;
}

/**
 * A stats namespace: names are joined with '.', Envoy's convention
 * (`cluster.<name>.upstream_cx_total`). Asking twice for a name returns the same object.
 */
export interface Scope {
  readonly prefix: string;
  counter(name: string): Counter;
  gauge(name: string): Gauge;
  histogram(name: string): Histogram;
  createScope(name: string): Scope;
}
