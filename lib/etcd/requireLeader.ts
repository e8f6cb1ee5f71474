/**
 * etcd's "require leader" stream metadata (Go's `clientv3.WithRequireLeader`, which Go's lease
 * client puts on every keepalive stream). With `hasleader: true` on a stream, a member that has
 * no Raft leader refuses to open it ("etcdserver: no leader") and cancels one already open once it
 * has been leaderless for 3 election timeouts; without it, a keepalive on such a member hangs
 * until the server's request timeout (5 s + 2 election timeouts) and a watch stays open, silent,
 * until the partition heals. The stream failing lets the client reopen it on another member.
 * It does NOT help while an isolated member still believes it leads (until CheckQuorum makes it
 * step down, about an election timeout): that member renews leases locally.
 */
import type { Namespace } from 'etcd3';

/** The part of a gRPC call an interceptor sees (structural, so @grpc/grpc-js is not imported). */
interface MetadataLike {
  clone(): MetadataLike;
  set(key: string, value: string): void;
}
interface StartableCall {
  start(metadata: MetadataLike, ...rest: never[]): void;
}

type Interceptors = NonNullable<
  NonNullable<Parameters<Namespace['leaseClient']['leaseKeepAlive']>[0]>['interceptors']
>;
/** A gRPC client interceptor, as etcd3's call options take it. */
export type GrpcInterceptor = Interceptors[number];

function addHasLeader<O, C extends StartableCall>(options: O, nextCall: (options: O) => C): C {
  const call = nextCall(options);
  const start = call.start.bind(call);
  call.start = (metadata, ...rest) => {
    const copy = metadata.clone();
    copy.set('hasleader', 'true');
    start(copy, ...rest);
  };
  return call;
}

/**
 * A gRPC client interceptor that adds `hasleader: true` to a call's metadata (a copy: etcd3 shares
 * one metadata object, the auth token's, between calls). Our keepalive streams carry it already;
 * for watch streams (lock waiters, observers), give it to the etcd3 client for every stream:
 *
 * @example
 * const client = new Etcd3({
 *   hosts,
 *   dialTimeout: 2000,
 *   defaultCallOptions: (c) =>
 *     c.isStream ? { interceptors: [requireLeader] } : { deadline: Date.now() + 5000 },
 * });
 */
// grpc-js declares an interceptor's result as its InterceptingCall class; it only calls the
// result's methods, so returning the next call itself (patched) is what it accepts at run time.
export const requireLeader = addHasLeader as unknown as GrpcInterceptor;

interface CallOptionsFactoryHolder {
  callOptionsFactory?:
    | { interceptors?: Interceptors }
    | ((context: object) => { interceptors?: Interceptors } | undefined);
}

/**
 * Call options for our keepalive stream: {@link requireLeader} first, then any stream
 * interceptors of the client's own `defaultCallOptions` (etcd3 merges call options key by key,
 * so passing `interceptors` alone would drop the user's).
 */
export function keepAliveCallOptions(client: Namespace): { interceptors: Interceptors } {
  const pool = (client as unknown as { leaseClient?: { client?: CallOptionsFactoryHolder } })
    .leaseClient?.client;
  const factory = pool?.callOptionsFactory;
  const defaults =
    typeof factory === 'function'
      ? factory({ service: 'Lease', method: 'leaseKeepAlive', isStream: true })
      : factory;
  return { interceptors: [requireLeader, ...(defaults?.interceptors ?? [])] };
}
