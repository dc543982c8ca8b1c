package dev.pmmha.persistence.fence;

import dev.pmmha.persistence.Connections;
import dev.pmmha.persistence.StoreSettings;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Optional;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hears, on a connection and a thread of its own, the notices a leader sends with its release on a hand-over
 * ({@link Fence#release(Fence.Lease, String, String)}): "the fence of epoch N is free, and node X is next". Node X
 * can then take the fence as soon as it is free, instead of when the singleton reaches it (PostgreSQL's LISTEN;
 * the notice is delivered when the release commits). And those of a hand-over straight to a holder
 * ({@link Fence#handOver}): "the fence is holder H's, with epoch N". Only a hint: the fence decides who holds it, and a notice
 * that is lost, late or wrong costs only time. Started only on PostgreSQL.
 */
public final class FenceNotices implements AutoCloseable {

  /** The PostgreSQL channel the notices go through. */
  public static final String CHANNEL = "pmm_ha_fence";

  /** A notice: the fence of {@code epoch} was released, and {@code next} is the node the singleton goes to. */
  public record Released(String next, long epoch) {}

  /**
   * The first word of a hand-over's notice ({@link Fence#handOver}): {@code handed <epoch> <at ms> <lease ms> <holder>}.
   */
  static final String HANDED = "handed";

  /**
   * A notice: the fence was handed over to {@code holder} with {@code epoch}, at {@code atMillis} (the store's clock),
   * with a lease of {@code leaseMillis}.
   */
  public record HandedOver(String holder, long epoch, long atMillis, long leaseMillis) {}

  /** Takes the fence through the connection the notice came on (see {@link Fence#acquireOn}). */
  public interface Taker {
    java.util.Optional<Fence.Lease> acquire(String holder, long atLeast) throws SQLException;
  }

  /** What is done with a notice, on the notices' thread; {@code taker} is good for that call only. */
  public interface Handler {
    void released(Released notice, Taker taker);

    /** A hand-over straight to a holder ({@link Fence#handOver}): no statement needed, the fence is that holder's. */
    void handedOver(HandedOver notice);
  }

  private static final Logger log = LoggerFactory.getLogger(FenceNotices.class);
  /** How long a wait for notices lasts before the connection is checked again (an idle link may have died). */
  private static final int WAIT_MS = 5_000;

  private final StoreSettings store;
  private final Fence fence;
  private final Handler onReleased;
  private final Thread thread;
  private volatile Connection connection;
  private volatile boolean closed;

  private FenceNotices(StoreSettings store, Fence fence, Handler onReleased) {
    this.store = store;
    this.fence = fence;
    this.onReleased = onReleased;
    this.thread = new Thread(this::run, "pmm-ha-fence-notices");
    this.thread.setDaemon(true);
  }

  /**
   * Listens for notices on PostgreSQL; empty on a store without them. {@code fence}: the fence a notice's
   * {@link Taker} takes (its statements and lease length; not its connection).
   */
  public static Optional<FenceNotices> start(StoreSettings store, Fence fence, Handler onReleased) {
    if (store.kind() != StoreSettings.Kind.POSTGRES) {
      return Optional.empty();
    }
    FenceNotices notices = new FenceNotices(store, fence, onReleased);
    notices.thread.start();
    return Optional.of(notices);
  }

  /** The payload {@link Fence} sends: the next node's id and the released epoch. */
  static String payload(String next, long epoch) {
    return epoch + " " + next;
  }

  /** The hand-over notice in {@code payload}, or empty if it is not one. */
  static Optional<HandedOver> parseHandedOver(String payload) {
    if (payload == null || !payload.startsWith(HANDED + " ")) {
      return Optional.empty();
    }
    String[] words = payload.split(" ", 5);
    if (words.length != 5 || words[4].isEmpty()) {
      return Optional.empty();
    }
    try {
      return Optional.of(new HandedOver(words[4], Long.parseLong(words[1]), Long.parseLong(words[2]),
          Long.parseLong(words[3])));
    } catch (NumberFormatException e) {
      return Optional.empty();
    }
  }

  /** The release notice in {@code payload}, or empty if it is not one. */
  static Optional<Released> parse(String payload) {
    if (payload == null) {
      return Optional.empty();
    }
    int space = payload.indexOf(' ');
    if (space <= 0 || space == payload.length() - 1) {
      return Optional.empty();
    }
    try {
      return Optional.of(new Released(payload.substring(space + 1), Long.parseLong(payload.substring(0, space))));
    } catch (NumberFormatException e) {
      return Optional.empty();
    }
  }

  private void run() {
    String lastProblem = null;
    while (!closed) {
      try {
        Connection c = connection;
        if (c == null || c.isClosed()) {
          c = Connections.open(store);
          try (Statement st = c.createStatement()) {
            st.execute("LISTEN " + CHANNEL);
          }
          connection = c;
          if (lastProblem != null) {
            log.info("Fence notices: listening again");
            lastProblem = null;
          }
        }
        PGNotification[] received = c.unwrap(PGConnection.class).getNotifications(WAIT_MS);
        if (received == null || received.length == 0) {
          if (!c.isValid(2)) {
            throw new SQLException("the connection no longer answers");
          }
          continue;
        }
        Connection on = c;
        Taker taker = (holder, atLeast) -> fence.acquireOn(on, holder, atLeast);
        for (PGNotification n : received) {
          Optional<HandedOver> handed = parseHandedOver(n.getParameter());
          if (handed.isPresent()) {
            deliver(handed.get().toString(), () -> onReleased.handedOver(handed.get()));
          } else {
            parse(n.getParameter()).ifPresent(notice ->
                deliver(notice.toString(), () -> onReleased.released(notice, taker)));
          }
        }
      } catch (SQLException | RuntimeException e) {
        connection = Connections.closeQuietly(connection);
        if (closed) {
          return;
        }
        String problem = String.valueOf(e.getMessage()).lines().findFirst().orElse("");
        if (!problem.equals(lastProblem)) {
          // a hint only: without it the next leader takes the fence when its singleton starts
          log.warn("Fence notices: cannot listen ({}); trying again every second", problem);
          lastProblem = problem;
        }
        sleepQuietly(1_000);
      }
    }
  }

  private void deliver(String notice, Runnable handling) {
    try {
      handling.run();
    } catch (RuntimeException e) {
      log.warn("Fence notices: handling {} failed: {}", notice, e.toString());
    }
  }

  private static void sleepQuietly(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void close() {
    closed = true;
    Connections.abort(connection);
    thread.interrupt();
  }
}
