/**
 * The gRPC test service of echo.proto on @grpc/grpc-js: a server on 127.0.0.1:0 (insecure, h2c)
 * and typed clients for it. Echo answers one request (or fails it with the status the request
 * names, after `delay_ms`); Chat answers each streamed request in order and ends when the client
 * does, or fails at the first request that names a status. Both echo the client's `x-test-meta`
 * metadata back as initial metadata and send `x-trailer-meta` as trailing metadata.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { LOOPBACK, withTimeout } from '../net-helpers.js';

export const PROTO_PATH = fileURLToPath(new URL('./echo.proto', import.meta.url));

export interface EchoRequest {
  message?: string;
  payload?: Buffer;
  fail_code?: number;
  fail_message?: string;
  delay_ms?: number;
}

export interface EchoReply {
  message: string;
  payload: Buffer;
  index: number;
}

type UnaryCallback = (err: grpc.ServiceError | null, reply?: EchoReply) => void;

/** The generated client of EchoService (and of Unrouted, which has Echo only). */
export interface EchoClient extends grpc.Client {
  Echo(req: EchoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, cb: UnaryCallback): grpc.ClientUnaryCall;
  Chat(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<EchoRequest, EchoReply>;
}

interface EchoPackage {
  readonly sluice: {
    readonly test: {
      readonly EchoService: grpc.ServiceClientConstructor;
      readonly Unrouted: grpc.ServiceClientConstructor;
    };
  };
}

const definition = protoLoader.loadSync(PROTO_PATH, { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
// loadPackageDefinition is untyped (a GrpcObject tree); echo.proto fixes its shape.
const pkg = grpc.loadPackageDefinition(definition) as unknown as EchoPackage;

const TRAILER_META = 'x-trailer-meta';

function initialMetadata(incoming: grpc.Metadata): grpc.Metadata {
  const md = new grpc.Metadata();
  const v = incoming.get('x-test-meta')[0];
  if (v !== undefined) md.set('x-test-meta', String(v));
  return md;
}

function trailing(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(TRAILER_META, 'bye');
  return md;
}

/** What the server saw of each call's metadata (to check what the proxy forwarded). */
export interface SeenCall {
  readonly method: string;
  readonly metadata: Record<string, unknown>;
}

export class EchoServer {
  readonly calls: SeenCall[] = [];
  /** Calls the server saw cancelled (the stream closed before the server sent its status). */
  cancelled = 0;

  private constructor(
    private readonly server: grpc.Server,
    readonly port: number,
  ) {}

  static async start(): Promise<EchoServer> {
    const server = new grpc.Server({ 'grpc.max_receive_message_length': 8 * 1024 * 1024, 'grpc.max_send_message_length': 8 * 1024 * 1024 });
    let self: EchoServer | undefined;
    const echo: grpc.handleUnaryCall<EchoRequest, EchoReply> = (call, callback) => {
      self!.calls.push({ method: 'Echo', metadata: call.metadata.getMap() });
      const req = call.request;
      const answer = (): void => {
        call.sendMetadata(initialMetadata(call.metadata));
        if (req.fail_code !== undefined && req.fail_code !== 0) {
          callback({ code: req.fail_code, details: req.fail_message ?? '', metadata: trailing() }, null);
          return;
        }
        callback(null, { message: req.message ?? '', payload: req.payload ?? Buffer.alloc(0), index: 0 }, trailing());
      };
      if (req.delay_ms !== undefined && req.delay_ms > 0) setTimeout(answer, req.delay_ms);
      else answer();
    };
    const chat: grpc.handleBidiStreamingCall<EchoRequest, EchoReply> = (call) => {
      self!.calls.push({ method: 'Chat', metadata: call.metadata.getMap() });
      call.on('cancelled', () => {
        self!.cancelled++;
      });
      call.sendMetadata(initialMetadata(call.metadata));
      let index = 0;
      let failed = false;
      call.on('data', (req: EchoRequest) => {
        if (failed) return;
        if (req.fail_code !== undefined && req.fail_code !== 0) {
          failed = true;
          call.emit('error', { code: req.fail_code, details: req.fail_message ?? '', metadata: trailing() });
          return;
        }
        call.write({ message: req.message ?? '', payload: req.payload ?? Buffer.alloc(0), index: index++ });
      });
      call.on('end', () => {
        if (!failed) call.end(trailing());
      });
    };
    const implementation = { Echo: echo, Chat: chat };
    server.addService(pkg.sluice.test.EchoService.service, implementation);
    const port = await withTimeout(
      new Promise<number>((resolve, reject) => {
        server.bindAsync(`${LOOPBACK}:0`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
      }),
      3000,
      'grpc server bind',
    );
    self = new EchoServer(server, port);
    return self;
  }

  close(): Promise<void> {
    return withTimeout(
      new Promise<void>((resolve) => this.server.tryShutdown(() => resolve())),
      3000,
      'grpc server shutdown',
    ).catch(() => {
      this.server.forceShutdown();
    });
  }
}

const CLIENT_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': 8 * 1024 * 1024,
  'grpc.max_send_message_length': 8 * 1024 * 1024,
  // One attempt per call: a failure must show what the proxy answered, not a retry's outcome.
  'grpc.enable_retries': 0,
};

/** A client of EchoService (or of the unrouted service) at 127.0.0.1:`port`, insecure (h2c). */
export function echoClient(port: number, service: 'EchoService' | 'Unrouted' = 'EchoService'): EchoClient {
  const Ctor = pkg.sluice.test[service];
  // The constructor's methods are generated from echo.proto; EchoClient names them.
  return new Ctor(`${LOOPBACK}:${port}`, grpc.credentials.createInsecure(), CLIENT_OPTIONS) as unknown as EchoClient;
}

export interface UnaryResult {
  readonly reply: EchoReply | undefined;
  readonly error: grpc.ServiceError | undefined;
  readonly initial: grpc.Metadata | undefined;
  readonly status: grpc.StatusObject;
}

/** One unary Echo call with a deadline; resolves once the status arrived (OK or not). */
export function unary(client: EchoClient, req: EchoRequest, metadata = new grpc.Metadata(), timeoutMs = 10_000): Promise<UnaryResult> {
  const p = new Promise<UnaryResult>((resolve) => {
    let reply: EchoReply | undefined;
    let error: grpc.ServiceError | undefined;
    let initial: grpc.Metadata | undefined;
    let done = 0;
    let status: grpc.StatusObject | undefined;
    const finish = (): void => {
      if (++done === 2) resolve({ reply, error, initial, status: status! });
    };
    const call = client.Echo(req, metadata, { deadline: Date.now() + timeoutMs }, (err, r) => {
      error = err ?? undefined;
      reply = r;
      finish();
    });
    call.on('metadata', (md: grpc.Metadata) => {
      initial = md;
    });
    call.on('status', (s: grpc.StatusObject) => {
      status = s;
      finish();
    });
  });
  return withTimeout(p, timeoutMs + 2000, 'unary Echo');
}

export { grpc };
