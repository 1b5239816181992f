#!/usr/bin/env -S node --initial-old-space-size=64
/**
 * sluice's composition root: parses the command line, loads and validates the bootstrap, registers
 * the filters (the only place that imports filters/ and codecs/), and runs the server until
 * SIGTERM/SIGINT, which drain it and exit 0.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from './api/logger.js';
import { createLogger } from './common/logger.js';
import { ConfigError } from './config/config-error.js';
import { DEFAULT_CONFIG_YAML, DEMO_ORIGIN_ADDRESS } from './config/default-config.js';
import { FilterRegistry } from './config/filter-registry.js';
import { loadBootstrap, mergeDocuments, parseConfigText, type LoadedBootstrap } from './config/load.js';
import { startDemoOrigin, type DemoOrigin } from './server/demo-origin.js';
import { parseOptions, USAGE, type CommandLineOptions } from './server/options.js';
import { Server } from './server/server.js';
import { createHttpConnPoolFactory } from '../codecs/index.js';
import { routerFactory } from '../filters/http/router/config.js';
import { tlsInspectorFactory } from '../filters/listener/tls-inspector/config.js';
import { connectionLimitFactory } from '../filters/network/connection-limit/config.js';
import { hcmFactory } from '../filters/network/http-connection-manager/config.js';
import { tcpProxyFactory } from '../filters/network/tcp-proxy/config.js';

/** Every filter sluice knows, by Envoy name. New filters are added here and nowhere else. */
function filterRegistry(): FilterRegistry {
  return new FilterRegistry()
    .registerNetworkFilter(hcmFactory)
    .registerNetworkFilter(tcpProxyFactory)
    .registerNetworkFilter(connectionLimitFactory)
    .registerHttpFilter(routerFactory)
    .registerListenerFilter(tlsInspectorFactory);
}

/** The version in package.json (two levels up from dist/src/main.js, one from src/main.ts). */
function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'sluice' && pkg.version !== undefined) return pkg.version;
    } catch {
      // not here: look one level up
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

interface LoadedConfig {
  readonly bootstrap: LoadedBootstrap;
  /** What the config came from, for messages. */
  readonly source: string;
  readonly embedded: boolean;
}

/** Reads the config the options name (or the embedded default); throws ConfigError. */
function loadConfig(options: CommandLineOptions, registry: FilterRegistry): LoadedConfig {
  if (options.configPath === undefined && options.configYaml === undefined) {
    return { bootstrap: loadBootstrap(parseConfigText(DEFAULT_CONFIG_YAML, '<embedded default config>'), registry), source: '<embedded default config>', embedded: true };
  }
  let doc: unknown = {};
  if (options.configPath !== undefined) {
    let text: string;
    try {
      text = readFileSync(options.configPath, 'utf8');
    } catch (e) {
      throw new ConfigError(options.configPath, `cannot read the config file: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    doc = parseConfigText(text, options.configPath);
  }
  if (options.configYaml !== undefined) doc = mergeDocuments(doc, parseConfigText(options.configYaml, '--config-yaml'));
  const source = options.configPath ?? '--config-yaml';
  return { bootstrap: loadBootstrap(doc, registry), source, embedded: false };
}

async function serve(config: LoadedConfig, registry: FilterRegistry, options: CommandLineOptions, logger: Logger): Promise<number> {
  let origin: DemoOrigin | undefined;
  if (config.embedded) {
    try {
      origin = await startDemoOrigin(DEMO_ORIGIN_ADDRESS.address, DEMO_ORIGIN_ADDRESS.port);
    } catch (e) {
      logger.error({ err: e }, `cannot start the demo origin on ${DEMO_ORIGIN_ADDRESS.address}:${DEMO_ORIGIN_ADDRESS.port}`);
      return 1;
    }
    logger.info({ address: `${origin.address.address}:${origin.address.port}` }, 'demo origin listening');
  }
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });
  let stopping = false;
  // Graceful unless `drain` is false (a second signal, or /quitquitquit which Envoy runs at once).
  const stop = (reason: string, drain: boolean) => {
    if (stopping) {
      logger.warn({ reason }, 'already stopping: closing every connection now');
      void server.shutdown();
      return;
    }
    stopping = true;
    logger.info({ reason, drainTimeS: drain ? options.drainTimeS : 0 }, drain ? 'draining' : 'shutting down');
    (drain ? server.drain() : Promise.resolve())
      .then(() => server.shutdown())
      .then(() => origin?.close())
      .then(
        () => {
          logger.info('sluice stopped');
          finish(0);
        },
        (e: unknown) => {
          logger.error({ err: e }, 'error while shutting down');
          finish(1);
        },
      );
  };
  const server = new Server({
    bootstrap: config.bootstrap,
    registry,
    logger,
    drainTimeMs: options.drainTimeS * 1000,
    createHttpConnPoolFactory: (dispatcher) => createHttpConnPoolFactory({ dispatcher }),
    version: packageVersion(),
    commandLineOptions: { config_path: options.configPath ?? '', log_level: options.logLevel, drain_time: `${options.drainTimeS}s` },
    onQuit: () => stop('/quitquitquit', false),
  });
  process.on('SIGTERM', () => stop('SIGTERM', true));
  process.on('SIGINT', () => stop('SIGINT', true));
  try {
    await server.start();
  } catch (e) {
    logger.error({ err: e }, 'cannot start');
    await server.shutdown();
    await origin?.close();
    return 1;
  }
  const admin = server.adminAddress();
  logger.info(
    { config: config.source, listeners: server.listenerAddresses(), admin: admin === undefined ? undefined : `${admin.address}:${admin.port}` },
    'sluice started',
  );
  return finished;
}

async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseOptions(argv);
  if (!parsed.ok) {
    process.stderr.write(`sluice: ${parsed.message}\nTry 'sluice --help'.\n`);
    return 1;
  }
  const options = parsed.options;
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (options.version) {
    process.stdout.write(`sluice ${packageVersion()}\n`);
    return 0;
  }
  if (options.printDefaultConfig) {
    process.stdout.write(DEFAULT_CONFIG_YAML);
    return 0;
  }
  const registry = filterRegistry();
  let config: LoadedConfig;
  try {
    config = loadConfig(options, registry);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`sluice: invalid configuration:\n${e.message}\n`);
    return 1;
  }
  if (options.mode === 'validate') {
    process.stdout.write(`configuration '${config.source}' OK\n`);
    return 0;
  }
  const logger = createLogger({ level: options.logLevel });
  return serve(config, registry, options, logger);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`sluice: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
