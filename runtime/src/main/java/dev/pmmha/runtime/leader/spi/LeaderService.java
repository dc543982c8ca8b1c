package dev.pmmha.runtime.leader.spi;

/**
 * Work that runs only on the PMM leader (PMM's examples: pmm-agent through supervisorctl, the backup scheduler,
 * advisor checks, telemetry). {@link #start} is called once per leadership, strictly after the new epoch is
 * persisted and the fence is held; {@link #stop} once when leadership ends, before it is released. Both are
 * called from a thread that may block, each bounded by the service's timeouts. A service that throws from
 * {@code start}, or reports a failure through {@link LeaderContext#reportFailure}, is restarted with backoff
 * while its node stays leader; it never blocks the other services.
 *
 * <p>Implementations need a public constructor taking a {@code com.typesafe.config.Config} (the service's own
 * entry in {@code pmm-ha.leader.services}) or none.
 */
public interface LeaderService {

  void start(LeaderContext context) throws Exception;

  void stop() throws Exception;
}
