package dev.pmmha.runtime.cluster;

import dev.pmmha.persistence.Connections;
import dev.pmmha.persistence.StoreSettings;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checks in the background that the store answers ({@code SELECT 1} on its own connection), so that readiness is
 * answered from memory. Logs each transition between reachable and unreachable once.
 */
public final class StoreProbe implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(StoreProbe.class);

  private final StoreSettings store;
  private final NodeState node;
  private final ScheduledExecutorService executor;
  /** Volatile for {@link #close}, which aborts it from another thread while a check may hang on it. */
  private volatile Connection connection;
  private String lastProblem = "";
  static final int PROBE_TIMEOUT_SECONDS = 1;

  public StoreProbe(StoreSettings store, NodeState node, Duration interval) {
    this.store = store;
    this.node = node;
    this.executor = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "pmm-ha-store-probe");
      t.setDaemon(true);
      return t;
    });
    executor.scheduleWithFixedDelay(this::check, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
  }

  private void check() {
    long started = System.nanoTime();
    String problem = null;
    try {
      if (connection == null || connection.isClosed()) {
        connection = Connections.open(store);
      }
      // isValid bounds the round trip on the socket itself: a query timeout is sent as a cancel request on another
      // connection, which a broken link (packets dropped) leaves hanging as well
      if (!connection.isValid(PROBE_TIMEOUT_SECONDS)) {
        throw new SQLException("no answer within " + PROBE_TIMEOUT_SECONDS + " s");
      }
    } catch (SQLException | RuntimeException e) {
      problem = String.valueOf(e.getMessage()).lines().findFirst().orElse(e.getClass().getSimpleName());
      closeQuietly();
    }
    if (!Objects.equals(problem, lastProblem)) {
      if (problem == null) {
        log.info("STORE reachable: {}", store.description());
      } else {
        log.warn("STORE unreachable: {}: {}", store.description(), problem);
      }
      lastProblem = problem;
    }
    node.storeChecked(problem, started);
  }

  private void closeQuietly() {
    connection = Connections.closeQuietly(connection);
  }

  /** Returns at once, even while a check hangs on a link that drops packets: the check's connection is aborted. */
  @Override
  public void close() {
    executor.shutdownNow();
    Connections.abort(connection);
  }
}
