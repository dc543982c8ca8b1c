package dev.pmmha.testkit;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;

/**
 * Two throwaway PostgreSQL servers on loopback with streaming replication and a synchronous standby: the primary
 * runs with {@code synchronous_standby_names = pg_b} and {@code synchronous_commit = on}, so that a commit is
 * acknowledged only once the standby has flushed it. {@link #crashPrimary()} stops the primary as a crash would
 * ({@code pg_ctl -m immediate}); {@link #promoteStandby()} makes the standby the primary, as Patroni would. The
 * promoted standby has no synchronous standby of its own (Patroni's {@code synchronous_mode} without
 * {@code synchronous_mode_strict}): its writes are acknowledged alone. {@link #close()} stops both and removes
 * their data directories.
 *
 * <p>{@link #startAsynchronous()} sets up the other kind: an asynchronous standby (a commit is acknowledged by the
 * primary alone) that streams from the primary through a {@link TcpProxy}, so that {@link #cutReplication()} can
 * stop the stream while the primary goes on taking commits; a standby promoted after that lacks them.
 */
public final class ReplicatedPostgres implements AutoCloseable {

  public static final String STANDBY_NAME = "pg_b";

  private final PostgresServer primary;
  private final PostgresServer standby;
  private final TcpProxy replication; // between the standby and the primary; null for the synchronous standby

  private ReplicatedPostgres(PostgresServer primary, PostgresServer standby, TcpProxy replication) {
    this.primary = primary;
    this.standby = standby;
    this.replication = replication;
  }

  public static ReplicatedPostgres start() {
    PostgresServer primary = PostgresServer.start(Map.of(
        "cluster_name", "pg_a",
        "synchronous_standby_names", STANDBY_NAME,
        "wal_level", "replica",
        "max_wal_senders", "5",
        // pg_rewind, when the old primary comes back as a standby, needs both on the new primary
        "wal_log_hints", "on",
        "full_page_writes", "on"));
    try {
      PostgresServer standby = primary.standby(Map.of("cluster_name", STANDBY_NAME, "hot_standby", "on",
          "wal_log_hints", "on", "full_page_writes", "on"));
      ReplicatedPostgres r = new ReplicatedPostgres(primary, standby, null);
      r.awaitStandby("sync", Duration.ofSeconds(60));
      return r;
    } catch (RuntimeException e) {
      primary.close();
      throw e;
    }
  }

  /**
   * A primary and an asynchronous standby (no {@code synchronous_standby_names}: the primary acknowledges a commit
   * before the standby has it) that streams through a {@link TcpProxy}, for {@link #cutReplication()}.
   */
  public static ReplicatedPostgres startAsynchronous() {
    PostgresServer primary = PostgresServer.start(Map.of(
        "cluster_name", "pg_a",
        "wal_level", "replica",
        "max_wal_senders", "5"));
    TcpProxy proxy = null;
    try {
      proxy = new TcpProxy(primary.host(), primary.port());
      PostgresServer standby = primary.standby(Map.of("cluster_name", STANDBY_NAME, "hot_standby", "on"),
          proxy.port());
      ReplicatedPostgres r = new ReplicatedPostgres(primary, standby, proxy);
      try {
        r.awaitStandby("async", Duration.ofSeconds(60));
      } catch (RuntimeException e) {
        r.close();
        throw e;
      }
      return r;
    } catch (RuntimeException e) {
      if (proxy != null) {
        proxy.close();
      }
      primary.close();
      throw e;
    }
  }

  /**
   * Cuts the asynchronous standby off its primary: its WAL stream is closed and reconnecting is refused, so
   * commits from now on reach the primary only. Returns once the primary no longer lists a standby in
   * {@code pg_stat_replication} and the standby's WAL receiver no longer streams.
   */
  public void cutReplication() {
    if (replication == null) {
      throw new UnsupportedOperationException("the synchronous standby's replication is not cut (startAsynchronous)");
    }
    replication.cut();
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (replicationRows() > 0 || standbyStreams()) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("the standby still streams from the primary 30 s after the cut");
      }
      sleep(50);
    }
  }

  /** Whether the standby's WAL receiver streams from its primary ({@code pg_stat_wal_receiver}). */
  public boolean standbyStreams() {
    try (Connection c = DriverManager.getConnection(url(standby, "postgres"), standby.user(), standby.password());
        Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'")) {
      rs.next();
      return rs.getInt(1) > 0;
    } catch (SQLException e) {
      throw new IllegalStateException("cannot read pg_stat_wal_receiver on the standby: " + e.getMessage(), e);
    }
  }

  /** Rows in the primary's {@code pg_stat_replication}: the standbys streaming from it. */
  public int replicationRows() {
    try (Connection c = DriverManager.getConnection(url(primary, "postgres"), primary.user(), primary.password());
        Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_stat_replication")) {
      rs.next();
      return rs.getInt(1);
    } catch (SQLException e) {
      throw new IllegalStateException("cannot read pg_stat_replication on the primary: " + e.getMessage(), e);
    }
  }

  /**
   * Waits until the primary reports the standby streaming with {@code syncState} ({@code sync}: until then,
   * commits wait; {@code async}).
   */
  private void awaitStandby(String syncState, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    String last = "no answer";
    while (System.nanoTime() < deadline) {
      try (Connection c = DriverManager.getConnection(url(primary, "postgres"), primary.user(), primary.password());
          Statement st = c.createStatement();
          ResultSet rs = st.executeQuery(
              "SELECT application_name, state, sync_state FROM pg_stat_replication")) {
        last = "no standby connected";
        while (rs.next()) {
          last = rs.getString(1) + " " + rs.getString(2) + " " + rs.getString(3);
          if (STANDBY_NAME.equals(rs.getString(1)) && "streaming".equals(rs.getString(2))
              && syncState.equals(rs.getString(3))) {
            return;
          }
        }
      } catch (SQLException e) {
        last = e.getMessage();
      }
      sleep(100);
    }
    throw new IllegalStateException("the standby did not stream (" + syncState + ") within " + timeout.toSeconds()
        + " s: " + last);
  }

  /** A new, empty database, created on the primary (and so on the standby); returns its name. */
  public String createDatabase() {
    String url = primary.createDatabase();
    return url.substring(url.lastIndexOf('/') + 1);
  }

  /** {@code 127.0.0.1:<primary>,127.0.0.1:<standby>}, for {@code PMM_POSTGRES_ADDR}. */
  public String hostList() {
    return primary.host() + ":" + primary.port() + "," + standby.host() + ":" + standby.port();
  }

  /** A multi-host JDBC URL of {@code database} that connects to whichever server is the primary. */
  public String jdbcUrl(String database) {
    return "jdbc:postgresql://" + hostList() + "/" + database + "?targetServerType=primary";
  }

  /** A JDBC URL of {@code database} on one server only (for reading the promoted standby after the crash). */
  public static String url(PostgresServer server, String database) {
    return "jdbc:postgresql://" + server.host() + ":" + server.port() + "/" + database;
  }

  public PostgresServer primary() {
    return primary;
  }

  public PostgresServer standby() {
    return standby;
  }

  public String user() {
    return primary.user();
  }

  public String password() {
    return primary.password();
  }

  /** Stops the primary immediately ({@code pg_ctl -m immediate}): no shutdown checkpoint, as a crash. */
  public void crashPrimary() {
    primary.stopServer();
  }

  /** Promotes the standby; returns once it accepts writes. */
  public void promoteStandby() {
    standby.promote();
  }

  /**
   * A planned switchover, as Patroni does it: the primary stops ({@code -m fast}: its sessions end, the standby
   * receives all its WAL), the standby is promoted, and the old primary comes back as a standby of the new one.
   * Returns the nanoTime at which the new primary accepted writes.
   */
  public long switchover() {
    primary.stopServer("fast");
    standby.promote();
    long promoted = System.nanoTime();
    primary.rewindAndFollow(standby);
    return promoted;
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  @Override
  public void close() {
    try {
      standby.close();
    } finally {
      try {
        primary.close();
      } finally {
        if (replication != null) {
          replication.close();
        }
      }
    }
  }
}
