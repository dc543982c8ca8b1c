package dev.pmmha.persistence.fence;

import dev.pmmha.persistence.Connections;
import dev.pmmha.persistence.StoreSettings;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;

/**
 * The leader fence: one row in the store with the current epoch, its holder and a lease that expires on the
 * database's own clock, so that node clocks never matter. A new leader takes the fence only when the previous
 * lease has expired or was released, and bumps the epoch in the same statement. Fenced journal writes are
 * checked against it by a trigger in the journal's own transaction (see the schema scripts).
 *
 * <p>Blocking JDBC on connections of its own, outside any pool: a renewal never waits behind the journal's or
 * the job store's work for a connection, so its latency is the database's alone; a release has a second one, so that
 * it never waits behind a renewal either. Call it from a thread that may block. Thread-safe.
 */
public final class Fence implements AutoCloseable {

  /** Journal tag that makes an event a fenced write of epoch N: {@code pmm-ha-epoch:N}. */
  public static final String EPOCH_TAG_PREFIX = "pmm-ha-epoch:";

  public static String epochTag(long epoch) {
    return EPOCH_TAG_PREFIX + epoch;
  }

  /**
   * A held lease. {@code sentNanos} is {@link System#nanoTime()} taken before the request that set it was sent,
   * so {@code sentNanos + ttl} is never later than the expiry the database recorded.
   * {@code priorEpoch}: the fence's epoch before this lease was taken (-1 for a renewal). {@code priorRelease}: how
   * that epoch ended when its holder released it (a hand-over), null when it expired instead or for a renewal; the
   * next leader journals it, so the old one need not write before it lets go.
   */
  public record Lease(long epoch, String holder, long sentNanos, Duration ttl, long priorEpoch, Release priorRelease) {
    public Lease(long epoch, String holder, long sentNanos, Duration ttl) {
      this(epoch, holder, sentNanos, ttl, -1, null);
    }

    /** The monotonic instant until which the holder may act, keeping {@code margin} in hand. */
    public long actUntilNanos(Duration margin) {
      return sentNanos + ttl.toNanos() - margin.toNanos();
    }
  }

  /** A release as the fence recorded it: who let go, when (the database's clock, ms) and why. */
  public record Release(String holder, long atMillis, String reason) {}

  /** The fence as stored: who holds which epoch, and for how long still (negative: expired). */
  public record State(long epoch, String holder, long remainingMillis, boolean released) {
    public boolean free() {
      return released || remainingMillis <= 0;
    }
  }

  /** The row before a take-over, as {@link #prior} reads it. */
  private static final String PRIOR_COLUMNS =
      "\"epoch\", \"holder\", \"released\", \"updated_ms\", \"release_reason\"";
  private static final String READ_PRIOR = "SELECT " + PRIOR_COLUMNS + " FROM \"pmm_ha_fence\" WHERE \"id\" = 1";
  private static final String ACQUIRE =
      "UPDATE \"pmm_ha_fence\" SET \"epoch\" = GREATEST(\"epoch\", ?) + 1, \"holder\" = ?, "
          + "\"lease_until_ms\" = pmm_ha_now_ms() + ?, \"released\" = FALSE, \"updated_ms\" = pmm_ha_now_ms() "
          + "WHERE \"id\" = 1 AND (\"released\" OR \"lease_until_ms\" <= pmm_ha_now_ms())";
  /**
   * PostgreSQL: {@link #ACQUIRE} and the epoch before it in one statement, so one round trip (a hand-over's new
   * leader waits for it). Both parts see the statement's snapshot: {@code prior} is the row as it was before.
   */
  private static final String ACQUIRE_ONE_TRIP =
      "WITH \"prior\" AS (SELECT " + PRIOR_COLUMNS + " FROM \"pmm_ha_fence\" WHERE \"id\" = 1), "
          + "\"taken\" AS (" + ACQUIRE + " RETURNING \"epoch\") "
          + "SELECT \"prior\".*, \"taken\".\"epoch\" FROM \"prior\" LEFT JOIN \"taken\" ON TRUE";
  private static final String RENEW =
      "UPDATE \"pmm_ha_fence\" SET \"lease_until_ms\" = pmm_ha_now_ms() + ?, \"updated_ms\" = pmm_ha_now_ms() "
          + "WHERE \"id\" = 1 AND \"epoch\" = ? AND \"holder\" = ? AND NOT \"released\" "
          + "AND \"lease_until_ms\" > pmm_ha_now_ms()";
  private static final String RELEASE =
      "UPDATE \"pmm_ha_fence\" SET \"released\" = TRUE, \"updated_ms\" = pmm_ha_now_ms(), \"release_reason\" = ? "
          + "WHERE \"id\" = 1 AND \"epoch\" = ? AND \"holder\" = ? AND NOT \"released\"";
  /**
   * PostgreSQL, on a hand-over: {@link #RELEASE} and a notice to the node the singleton goes to next, in one statement
   * (the notice is delivered when the release commits, and only if it released something; see {@link FenceNotices}).
   */
  private static final String RELEASE_WITH_NOTICE =
      "WITH \"released\" AS (" + RELEASE + " RETURNING \"epoch\") "
          + "SELECT pg_notify('" + FenceNotices.CHANNEL + "', ?) FROM \"released\"";
  /**
   * A hand-over straight to the next leader's tenure {@code holder}: the released epoch's holder gives the fence, with
   * the next epoch and a fresh lease, to a holder that counts that lease from before it was offered the fence (see
   * {@link #handOver}); the release is recorded in the same row, as {@link #RELEASE} would.
   */
  private static final String HAND_OVER =
      "UPDATE \"pmm_ha_fence\" SET \"epoch\" = \"epoch\" + 1, \"holder\" = ?, \"lease_until_ms\" = pmm_ha_now_ms() + ?, "
          + "\"released\" = FALSE, \"updated_ms\" = pmm_ha_now_ms(), \"release_reason\" = ? "
          + "WHERE \"id\" = 1 AND \"epoch\" = ? AND \"holder\" = ? AND NOT \"released\"";
  /**
   * PostgreSQL: {@link #HAND_OVER}, its new epoch and time, and a notice to the new holder, in one statement (the
   * notice is delivered when it commits, only if it handed something over; see {@link FenceNotices}).
   */
  private static final String HAND_OVER_WITH_NOTICE =
      "WITH \"handed\" AS (" + HAND_OVER + " RETURNING \"epoch\", \"updated_ms\", \"lease_until_ms\") "
          + "SELECT \"epoch\", \"updated_ms\", \"lease_until_ms\" - \"updated_ms\", pg_notify('" + FenceNotices.CHANNEL
          + "', '" + FenceNotices.HANDED + " ' || \"epoch\" || ' ' || \"updated_ms\" || ' ' || "
          + "(\"lease_until_ms\" - \"updated_ms\") || ' ' || ?) FROM \"handed\"";
  /** The fence's epoch and last change when {@code holder} holds it (a hand-over's check, {@link #heldBy}). */
  private static final String HELD_BY =
      "SELECT \"epoch\", \"updated_ms\", \"lease_until_ms\" - \"updated_ms\" FROM \"pmm_ha_fence\" "
          + "WHERE \"id\" = 1 AND \"holder\" = ? AND NOT \"released\"";
  private static final String READ =
      "SELECT \"epoch\", \"holder\", \"lease_until_ms\" - pmm_ha_now_ms(), \"released\" FROM \"pmm_ha_fence\" "
          + "WHERE \"id\" = 1";

  private final StoreSettings store;
  private final Duration ttl;
  /** Volatile for {@link #close}, which aborts it from another thread; otherwise used under the monitor. */
  private volatile Connection connection;
  private volatile boolean closed;
  private long lastUsedNanos;
  /** Guards the release lane, apart from the monitor that renewals, acquires and reads hold. */
  private final Object releaseLock = new Object();
  /** The release lane's connection (see {@link #release(Lease, String, String)}); volatile for {@link #close}. */
  private volatile Connection releaseConnection;

  /**
   * A connection unused for longer than this is checked before use: it may be left on a server that crashed or was
   * demoted while nobody used it (a store failover while this node did not lead), and one failed acquire costs the
   * next leader a retry interval.
   */
  static final long IDLE_CHECK_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(1);

  public Fence(StoreSettings store, Duration ttl) {
    this.store = store;
    this.ttl = ttl;
  }

  public Duration ttl() {
    return ttl;
  }

  /**
   * Takes the fence for {@code holder} if it is free, with an epoch above both the stored one and
   * {@code atLeast}; otherwise returns empty with the fence untouched.
   */
  public synchronized java.util.Optional<Lease> acquire(String holder, long atLeast) throws SQLException {
    long sent = System.nanoTime();
    Connection c = connection();
    if (store.kind() == StoreSettings.Kind.POSTGRES) {
      try {
        return acquireInOneTrip(c, holder, atLeast, sent);
      } catch (SQLException e) {
        drop();
        throw e;
      }
    }
    c.setAutoCommit(false);
    try {
      // the row before, in the same transaction: a floor above its epoch means the store went back in time
      Prior prior;
      try (PreparedStatement st = c.prepareStatement(READ_PRIOR); ResultSet rs = st.executeQuery()) {
        prior = prior(rs);
      }
      int updated;
      try (PreparedStatement st = c.prepareStatement(ACQUIRE)) {
        bindAcquire(st, holder, atLeast);
        updated = st.executeUpdate();
      }
      if (updated == 0) {
        c.commit();
        return java.util.Optional.empty();
      }
      State s = read(c);
      c.commit();
      return java.util.Optional.of(new Lease(s.epoch(), holder, sent, ttl, prior.epoch(), prior.release()));
    } catch (SQLException e) {
      rollbackQuietly(c);
      drop();
      throw e;
    } finally {
      resetAutoCommit(c);
    }
  }

  /**
   * {@link #acquire} on PostgreSQL through {@code c}, a connection the caller owns (the one a {@link FenceNotices}
   * notice just arrived on: it is known to answer, and no other fence call queues in front of this one).
   */
  java.util.Optional<Lease> acquireOn(Connection c, String holder, long atLeast) throws SQLException {
    return acquireInOneTrip(c, holder, atLeast, System.nanoTime());
  }

  private java.util.Optional<Lease> acquireInOneTrip(Connection c, String holder, long atLeast, long sent)
      throws SQLException {
    try (PreparedStatement st = c.prepareStatement(ACQUIRE_ONE_TRIP)) {
      bindAcquire(st, holder, atLeast);
      try (ResultSet rs = st.executeQuery()) {
        Prior prior = prior(rs);
        long epoch = rs.getLong(6);
        return rs.wasNull() ? java.util.Optional.empty()
            : java.util.Optional.of(new Lease(epoch, holder, sent, ttl, prior.epoch(), prior.release()));
      }
    }
  }

  /** {@link #ACQUIRE}'s parameters (and {@link #ACQUIRE_ONE_TRIP}'s, which are the same). */
  private void bindAcquire(PreparedStatement st, String holder, long atLeast) throws SQLException {
    st.setQueryTimeout(queryTimeoutSeconds());
    st.setLong(1, atLeast);
    st.setString(2, holder);
    st.setLong(3, ttl.toMillis());
  }

  /** Extends the lease; empty when it is lost (expired, released or taken over). */
  public synchronized java.util.Optional<Lease> renew(Lease lease) throws SQLException {
    long sent = System.nanoTime();
    try (PreparedStatement st = connection().prepareStatement(RENEW)) {
      st.setQueryTimeout(queryTimeoutSeconds());
      st.setLong(1, ttl.toMillis());
      st.setLong(2, lease.epoch());
      st.setString(3, lease.holder());
      return st.executeUpdate() == 1
          ? java.util.Optional.of(new Lease(lease.epoch(), lease.holder(), sent, ttl))
          : java.util.Optional.empty();
    } catch (SQLException e) {
      drop();
      throw e;
    }
  }

  /** Gives the fence up so that the next leader need not wait for the lease to expire. */
  public void release(Lease lease) throws SQLException {
    release(lease, "");
  }

  /**
   * Gives the fence up, recording {@code reason} with it: the next leader journals the release (see
   * {@link Lease#priorRelease}). A lease already released stays as it was.
   */
  public void release(Lease lease, String reason) throws SQLException {
    release(lease, reason, "");
  }

  /**
   * Gives the fence up as {@link #release(Lease, String)} does, and on PostgreSQL tells the node {@code next} (a node
   * id; "" tells nobody) that it is free, through {@link FenceNotices}: that node can take it before the singleton
   * reaches it. The store has no notices elsewhere (H2): there the next leader takes the fence when its singleton
   * starts, as without a notice.
   *
   * <p>On the release lane ({@link #openReleaseLane}): its own connection and lock, so that it never waits behind a
   * renewal or a read under way on this fence's other connection (only behind the fence row's lock in the store, for
   * as long as a renewal holds it there). A renewal that reaches the store after it changes nothing ({@code RENEW}
   * requires the lease unreleased). A lane connection that fails (left open for a whole tenure, it may have been
   * closed by the server or left on a demoted primary) is replaced once, at once: a release is idempotent.
   */
  public void release(Lease lease, String reason, String next) throws SQLException {
    onReleaseLane(c -> {
      releaseOn(c, lease, reason, next);
      return null;
    });
  }

  /**
   * The fence as a hand-over gave it: the new epoch, when (the database's clock, ms) and the lease it was given with
   * (ms; the holder counts it from before it was offered the fence, see {@link #handOver}).
   */
  public record Handed(long epoch, long atMillis, long leaseMillis) {}

  /**
   * Gives the fence straight to the next leader's tenure {@code nextHolder} (a holder id that node chose, see
   * {@link Lease#holder}), with the next epoch and a full lease, and records the release with {@code reason}; on
   * PostgreSQL tells that holder through {@link FenceNotices}. The next leader then answers without a statement of its
   * own. It counts the lease from before it was offered the fence, which is before this statement: never later than
   * the database's expiry. Empty when {@code lease} was no longer held (nothing changed). On the release lane, as
   * {@link #release(Lease, String, String)}; a repeat after a lane failure that committed unseen finds nothing to hand
   * over (empty), and the notice went out all the same.
   */
  public java.util.Optional<Handed> handOver(Lease lease, String reason, String nextHolder) throws SQLException {
    return onReleaseLane(c -> handOverOn(c, lease, reason, nextHolder));
  }

  /**
   * {@code call} on the release lane, under its lock; a lane connection that had been open and fails is replaced
   * once, at once, and the call repeated: both calls are idempotent (a repeat finds the fence moved on and changes
   * nothing).
   */
  private <T> T onReleaseLane(LaneCall<T> call) throws SQLException {
    synchronized (releaseLock) {
      boolean wasOpen = releaseConnection != null;
      try {
        return call.on(releaseLane());
      } catch (SQLException e) {
        dropReleaseLane();
        if (!wasOpen || closed) {
          throw e;
        }
        try {
          return call.on(releaseLane());
        } catch (SQLException again) {
          dropReleaseLane();
          again.addSuppressed(e);
          throw again;
        }
      }
    }
  }

  private interface LaneCall<T> {
    T on(Connection c) throws SQLException;
  }

  private java.util.Optional<Handed> handOverOn(Connection c, Lease lease, String reason, String nextHolder)
      throws SQLException {
    boolean notice = store.kind() == StoreSettings.Kind.POSTGRES;
    try (PreparedStatement st = c.prepareStatement(notice ? HAND_OVER_WITH_NOTICE : HAND_OVER)) {
      st.setQueryTimeout(queryTimeoutSeconds());
      st.setString(1, nextHolder);
      st.setLong(2, ttl.toMillis());
      st.setString(3, reason == null ? "" : reason);
      st.setLong(4, lease.epoch());
      st.setString(5, lease.holder());
      if (notice) {
        st.setString(6, nextHolder);
        try (ResultSet rs = st.executeQuery()) {
          return rs.next() ? java.util.Optional.of(new Handed(rs.getLong(1), rs.getLong(2), rs.getLong(3)))
              : java.util.Optional.empty();
        }
      }
      if (st.executeUpdate() == 0) {
        return java.util.Optional.empty();
      }
    }
    return heldBy(c, nextHolder);
  }

  /**
   * The fence's epoch and last change if {@code holder} holds it unreleased (expired or not): how a next leader whose
   * notice of a hand-over did not come learns whether the fence was handed to it.
   */
  public synchronized java.util.Optional<Handed> heldBy(String holder) throws SQLException {
    try {
      return heldBy(connection(), holder);
    } catch (SQLException e) {
      drop();
      throw e;
    }
  }

  private java.util.Optional<Handed> heldBy(Connection c, String holder) throws SQLException {
    try (PreparedStatement st = c.prepareStatement(HELD_BY)) {
      st.setQueryTimeout(queryTimeoutSeconds());
      st.setString(1, holder);
      try (ResultSet rs = st.executeQuery()) {
        return rs.next() ? java.util.Optional.of(new Handed(rs.getLong(1), rs.getLong(2), rs.getLong(3)))
            : java.util.Optional.empty();
      }
    }
  }


  /**
   * Opens the release lane's connection now if it is not open, so that a release does not pay for a new connection
   * in the middle of a hand-over (a leader calls it when it starts renewing).
   */
  public void openReleaseLane() throws SQLException {
    synchronized (releaseLock) {
      releaseLane();
    }
  }

  private void releaseOn(Connection c, Lease lease, String reason, String next) throws SQLException {
    boolean notice = next != null && !next.isEmpty() && store.kind() == StoreSettings.Kind.POSTGRES;
    try (PreparedStatement st = c.prepareStatement(notice ? RELEASE_WITH_NOTICE : RELEASE)) {
      st.setQueryTimeout(queryTimeoutSeconds());
      st.setString(1, reason == null ? "" : reason);
      st.setLong(2, lease.epoch());
      st.setString(3, lease.holder());
      if (notice) {
        st.setString(4, FenceNotices.payload(next, lease.epoch()));
        st.executeQuery().close();
      } else {
        st.executeUpdate();
      }
    }
  }

  /** The release lane's connection, opened if need be; called under {@link #releaseLock}. */
  private Connection releaseLane() throws SQLException {
    releaseConnection = openIfNeeded(releaseConnection);
    return releaseConnection;
  }

  private void dropReleaseLane() {
    releaseConnection = Connections.closeQuietly(releaseConnection);
  }

  public synchronized State current() throws SQLException {
    try {
      return read(connection());
    } catch (SQLException e) {
      drop();
      throw e;
    }
  }

  private static State read(Connection c) throws SQLException {
    try (PreparedStatement st = c.prepareStatement(READ); ResultSet rs = st.executeQuery()) {
      if (!rs.next()) {
        throw new SQLException("the fence row is missing (schema not created?)");
      }
      return new State(rs.getLong(1), rs.getString(2), rs.getLong(3), rs.getBoolean(4));
    }
  }

  /** The row before a take-over: its epoch, and how it ended if its holder released it. */
  private record Prior(long epoch, Release release) {}

  /** Reads {@link #PRIOR_COLUMNS} from the first row of {@code rs}. */
  private static Prior prior(ResultSet rs) throws SQLException {
    if (!rs.next()) {
      throw new SQLException("the fence row is missing (schema not created?)");
    }
    long epoch = rs.getLong(1);
    String holder = rs.getString(2);
    boolean released = rs.getBoolean(3);
    long at = rs.getLong(4);
    String reason = rs.getString(5);
    Release release = released && !holder.isEmpty() ? new Release(holder, at, reason == null ? "" : reason) : null;
    return new Prior(epoch, release);
  }

  /** A statement that outlives the lease is useless: give up on it after about one TTL. */
  private int queryTimeoutSeconds() {
    return (int) Math.max(1, (ttl.toMillis() + 999) / 1000);
  }

  private Connection connection() throws SQLException {
    long now = System.nanoTime();
    if (connection != null && now - lastUsedNanos > IDLE_CHECK_NANOS && !connection.isValid(queryTimeoutSeconds())) {
      drop();
    }
    connection = openIfNeeded(connection);
    lastUsedNanos = now;
    return connection;
  }

  /** {@code c} if it is open, else a new connection; refused once this fence is closed. For both connections. */
  private Connection openIfNeeded(Connection c) throws SQLException {
    if (closed) {
      throw new SQLException("the fence client is closed");
    }
    return c == null || c.isClosed() ? Connections.open(store) : c;
  }

  private static void rollbackQuietly(Connection c) {
    try {
      c.rollback();
    } catch (SQLException ignored) {
      // the connection is dropped next
    }
  }

  private static void resetAutoCommit(Connection c) {
    try {
      if (!c.isClosed()) {
        c.setAutoCommit(true);
      }
    } catch (SQLException ignored) {
      // dropped on next failure
    }
  }

  private void drop() {
    connection = Connections.closeQuietly(connection);
  }

  /**
   * Closes the connection without waiting for the monitor: a renewal hung on a link that drops packets holds it,
   * and the node's shutdown must not wait for that (StepAsideIT). The hung statement fails at once.
   */
  @Override
  public void close() {
    closed = true;
    Connections.abort(connection);
    Connections.abort(releaseConnection);
  }
}
