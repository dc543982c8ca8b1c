package dev.pmmha.http;

import dev.pmmha.http.probe.ProbeServer;
import dev.pmmha.http.routes.HaRoutes;
import java.time.Duration;
import java.util.concurrent.CompletionStage;
import java.util.function.Supplier;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.HandlerProvider;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Binds the routes and unbinds them in coordinated shutdown's {@code cluster-exiting-done} phase: after the
 * node has left the cluster and handed its singleton over, not at {@code service-unbind}. Until then a stopping
 * leader answers its health check (200 while it holds its lease, then 503) instead of refusing connections, and
 * the others hear from it until the hand-over is done; /v1/readyz says "shutting down" from the first phase on.
 */
public final class HttpServer {

  /** The same routes with HTTPS, beside the plain port (HAProxy's https backend of the PMM guide probes it). */
  public static CompletionStage<ServerBinding> startHttps(
      ActorSystem<?> system, String host, int port, javax.net.ssl.SSLContext ssl, HandlerProvider route,
      Supplier<CompletionStage<Void>> beforeUnbind) {
    return Http.get(system)
        .newServerAt(host, port)
        .enableHttps(org.apache.pekko.http.javadsl.ConnectionContext.httpsServer(ssl))
        .bind(route)
        .whenComplete((binding, failure) -> {
          if (failure != null) {
            log.error("Cannot listen for HTTPS on {}:{} (PMM_HA_HTTPS_PORT): {}", host, port, failure.getMessage());
            return;
          }
          log.info("HTTPS API listening on {}", binding.localAddress());
          CoordinatedShutdown.get(system)
              .addTask(UNBIND_PHASE, "pmm-ha-https-unbind", () -> beforeUnbind.get()
                  .thenCompose(v -> binding.terminate(Duration.ofSeconds(2))).thenApply(t -> Done.getInstance()));
        });
  }

  /**
   * The leader checks on the probe port ({@link ProbeServer}), closed with the API port: in
   * {@code cluster-exiting-done}, after {@code beforeUnbind}. Fails when the port cannot be bound.
   */
  public static CompletionStage<ProbeServer> startProbe(ActorSystem<?> system, HttpSettings settings, HaRoutes routes,
      Supplier<CompletionStage<Void>> beforeUnbind) {
    var config = system.settings().config();
    ProbeServer probe;
    try {
      probe = ProbeServer.start(settings.bindAddress(), settings.probePort(), routes,
          config.getDuration(HaRoutes.REQUEST_TIMEOUT).toMillis(),
          config.getDuration("pekko.http.server.idle-timeout").toMillis());
    } catch (java.io.IOException e) {
      log.error("Cannot listen for leader checks on {}:{} (PMM_HA_PROBE_PORT): {}",
          settings.bindAddress(), settings.probePort(), e.getMessage());
      return java.util.concurrent.CompletableFuture.failedFuture(e);
    }
    log.info("Probe port (leader health checks) listening on {}", probe.localAddress());
    CoordinatedShutdown.get(system).addTask(UNBIND_PHASE, "pmm-ha-probe-unbind", () -> beforeUnbind.get()
        .thenApply(v -> {
          probe.close();
          return Done.getInstance();
        }));
    return java.util.concurrent.CompletableFuture.completedFuture(probe);
  }

  private static final Logger log = LoggerFactory.getLogger(HttpServer.class);
  private static final String UNBIND_PHASE = CoordinatedShutdown.PhaseClusterExitingDone();

  private HttpServer() {}

  public static CompletionStage<ServerBinding> start(ActorSystem<?> system, HttpSettings settings, HandlerProvider route) {
    return start(system, settings, route, () -> java.util.concurrent.CompletableFuture.completedFuture(null));
  }

  /** {@code beforeUnbind}: what the listener waits for before it closes (a stepping-down leader's hold). */
  public static CompletionStage<ServerBinding> start(
      ActorSystem<?> system, HttpSettings settings, HandlerProvider route, Supplier<CompletionStage<Void>> beforeUnbind) {
    return Http.get(system)
        .newServerAt(settings.bindAddress(), settings.port())
        .bind(route)
        .whenComplete((binding, failure) -> {
          if (failure != null) {
            log.error("Cannot listen for HTTP on {}:{} (PMM_HA_HTTP_PORT): {}",
                settings.bindAddress(), settings.port(), failure.getMessage());
            return;
          }
          log.info("HTTP API listening on {}", binding.localAddress());
          CoordinatedShutdown.get(system)
              .addTask(UNBIND_PHASE, "pmm-ha-http-unbind", () -> beforeUnbind.get()
                  .thenCompose(v -> binding.terminate(Duration.ofSeconds(2))).thenApply(t -> Done.getInstance()));
        });
  }
}
