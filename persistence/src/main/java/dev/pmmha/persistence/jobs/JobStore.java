package dev.pmmha.persistence.jobs;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.pmmha.persistence.StoreSettings;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The jobs' rows in the store: the registry ({@code pmm_ha_jobs}: every defined job, its shard and the node that
 * runs it now) and the tick claims ({@code pmm_ha_job_runs}, primary key {@code (job_id, tick_ms)}).
 *
 * <p>A tick is run only by the node whose {@link #claim} inserted its row: a second claim of the same tick, from
 * any node and at any time, fails on the key. A claim whose runner disappears stays {@code running} until the
 * job's next incarnation marks it {@code lost} ({@link #start}); it is never run again.
 *
 * <p>Blocking JDBC on a HikariCP pool of its own (twice {@code connections}: one per thread of this store's two
 * executors, so that background work never makes a claim wait for a connection); each operation or transaction
 * checks a connection out and returns it. {@link #async} and {@link #background} run work on those threads.
 * Thread-safe.
 */
public final class JobStore implements AutoCloseable {

  /** What a claim attempt found. */
  public enum Claim {
    /** The row is ours: run the tick. */
    CLAIMED,
    /** Another incarnation (or node) claimed this tick already: do not run it. */
    TAKEN
  }

  /** One claimed tick. {@code endedMs} and {@code exitCode} are null while it runs. */
  public record Run(String jobId, long tickMs, String node, String incarnation, long startedMs, Long endedMs,
      Integer exitCode, String status) {}

  /** One registry row with the job's latest claimed tick (empty before its first run). */
  public record Registered(String jobId, int shard, String spec, String node, Long nodeSinceMs, long updatedMs,
      Optional<Run> lastRun) {}

  private static final String RUN_COLUMNS =
      "\"job_id\", \"tick_ms\", \"node\", \"incarnation\", \"started_ms\", \"ended_ms\", \"exit_code\", \"status\"";

  private final StoreSettings store;
  private final ExecutorService executor;
  private final ExecutorService background;
  private final HikariDataSource pool;
  private final Batcher<Start, TakeOver> starts;
  private final Batcher<Finish, Boolean> finishes;
  private final Batcher<ClaimRequest, Claim> claims;

  /** The most requests one transaction of {@link #start} or {@link #finishLater} carries. */
  static final int MAX_BATCH = 500;

  /**
   * {@code connections}: how many statements may run at once on each of the two executors (one thread and one
   * pooled connection each).
   */
  public JobStore(StoreSettings store, int connections) {
    this.store = store;
    this.pool = pool(store, 2 * connections);
    AtomicInteger n = new AtomicInteger();
    this.executor = Executors.newFixedThreadPool(connections, r -> {
      Thread t = new Thread(r, "pmm-ha-job-store-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    this.background = Executors.newFixedThreadPool(connections, r -> {
      Thread t = new Thread(r, "pmm-ha-job-store-bg-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    this.starts = new Batcher<>(batch -> inTransaction(c -> startAll(c, batch)), executor, MAX_BATCH);
    this.finishes = new Batcher<>(batch -> inTransaction(c -> finishAll(c, batch)), background, MAX_BATCH);
    this.claims = new Batcher<>(this::claimAll, executor, MAX_BATCH);
  }

  /** A fixed-size pool that starts without the store: an outage fails the operations that meet it, not the node. */
  private static HikariDataSource pool(StoreSettings store, int size) {
    HikariConfig c = new HikariConfig();
    c.setPoolName("pmm-ha-job-store");
    c.setJdbcUrl(store.url());
    c.setUsername(store.user());
    c.setPassword(store.password());
    c.setMaximumPoolSize(size);
    c.setMinimumIdle(size);
    long timeout = Math.max(250, store.connectionTimeout().toMillis()); // HikariCP's floor
    c.setConnectionTimeout(timeout);
    c.setValidationTimeout(Math.max(250, Math.min(timeout, 2000)));
    c.setInitializationFailTimeout(-1);
    return new HikariDataSource(c);
  }

  @FunctionalInterface
  public interface SqlWork<T> {
    T run(JobStore store) throws SQLException;
  }

  /** Runs blocking work on the store's own threads: claims and take-overs, which a tick waits for. */
  public <T> CompletableFuture<T> async(SqlWork<T> work) {
    return on(executor, work);
  }

  /**
   * Runs blocking work on a second set of threads and connections, so that recording ends, pruning and the
   * registry never delay a claim.
   */
  public <T> CompletableFuture<T> background(SqlWork<T> work) {
    return on(background, work);
  }

  private <T> CompletableFuture<T> on(ExecutorService threads, SqlWork<T> work) {
    return CompletableFuture.supplyAsync(() -> {
      try {
        return work.run(this);
      } catch (SQLException e) {
        throw new CompletionException(e);
      }
    }, threads);
  }

  // --- the registry ---

  /**
   * The job's shard: the one it has, or for a new job the least used of {@code 0 .. shards-1}, so that jobs spread
   * evenly over the shards (and least-shard allocation spreads the shards evenly over the nodes).
   */
  public int register(String jobId, int shards, long nowMs) throws SQLException {
    return withConnection(c -> register(c, jobId, shards, nowMs));
  }

  private static int register(Connection c, String jobId, int shards, long nowMs) throws SQLException {
    Optional<Integer> existing = shardOf(c, jobId);
    if (existing.isPresent()) {
      return existing.get();
    }
    int[] counts = new int[shards];
    try (PreparedStatement st = c.prepareStatement(
        "SELECT \"shard\", COUNT(*) FROM \"pmm_ha_jobs\" GROUP BY \"shard\"");
        ResultSet rs = st.executeQuery()) {
      while (rs.next()) {
        int s = rs.getInt(1);
        if (s >= 0 && s < shards) {
          counts[s] = rs.getInt(2);
        }
      }
    }
    int best = 0;
    for (int s = 1; s < shards; s++) {
      if (counts[s] < counts[best]) {
        best = s;
      }
    }
    try (PreparedStatement st = c.prepareStatement(
        "INSERT INTO \"pmm_ha_jobs\" (\"job_id\", \"shard\", \"updated_ms\") VALUES (?, ?, ?)")) {
      st.setString(1, jobId);
      st.setInt(2, best);
      st.setLong(3, nowMs);
      st.executeUpdate();
      return best;
    } catch (SQLException e) {
      if (isDuplicate(e)) { // registered by another node at the same moment: use its shard
        return shardOf(c, jobId).orElseThrow(() -> e);
      }
      throw e;
    }
  }

  private static Optional<Integer> shardOf(Connection c, String jobId) throws SQLException {
    try (PreparedStatement st = c.prepareStatement("SELECT \"shard\" FROM \"pmm_ha_jobs\" WHERE \"job_id\" = ?")) {
      st.setString(1, jobId);
      try (ResultSet rs = st.executeQuery()) {
        return rs.next() ? Optional.of(rs.getInt(1)) : Optional.empty();
      }
    }
  }

  /** Stores the definition (as written to the job's journal) and, when {@code node} is set, who runs it now. */
  public void saveDefinition(String jobId, int shard, String spec, String node, long nowMs) throws SQLException {
    withConnection(c -> {
      saveDefinition(c, jobId, shard, spec, node, nowMs);
      return null;
    });
  }

  private static void saveDefinition(Connection c, String jobId, int shard, String spec, String node, long nowMs)
      throws SQLException {
    String update = node == null
        ? "UPDATE \"pmm_ha_jobs\" SET \"spec\" = ?, \"updated_ms\" = ? WHERE \"job_id\" = ?"
        : "UPDATE \"pmm_ha_jobs\" SET \"spec\" = ?, \"updated_ms\" = ?, \"node\" = ?, \"node_since_ms\" = ? "
            + "WHERE \"job_id\" = ?";
    try (PreparedStatement st = c.prepareStatement(update)) {
      st.setString(1, spec);
      st.setLong(2, nowMs);
      if (node == null) {
        st.setString(3, jobId);
      } else {
        st.setString(3, node);
        st.setLong(4, nowMs);
        st.setString(5, jobId);
      }
      if (st.executeUpdate() == 1) {
        return;
      }
    }
    try (PreparedStatement st = c.prepareStatement("INSERT INTO \"pmm_ha_jobs\" (\"job_id\", \"shard\", \"spec\", "
        + "\"node\", \"node_since_ms\", \"updated_ms\") VALUES (?, ?, ?, ?, ?, ?)")) {
      st.setString(1, jobId);
      st.setInt(2, shard);
      st.setString(3, spec);
      st.setString(4, node);
      if (node == null) {
        st.setNull(5, java.sql.Types.BIGINT);
      } else {
        st.setLong(5, nowMs);
      }
      st.setLong(6, nowMs);
      st.executeUpdate();
    } catch (SQLException e) {
      if (!isDuplicate(e)) {
        throw e;
      }
      saveDefinition(c, jobId, shard, spec, node, nowMs); // inserted concurrently: the update now finds it
    }
  }

  /** Removes the job from the registry; its past runs stay until pruned. */
  public boolean remove(String jobId) throws SQLException {
    return withConnection(c -> {
      try (PreparedStatement st = c.prepareStatement("DELETE FROM \"pmm_ha_jobs\" WHERE \"job_id\" = ?")) {
        st.setString(1, jobId);
        return st.executeUpdate() == 1;
      }
    });
  }

  public Optional<Registered> find(String jobId) throws SQLException {
    List<Registered> l = query("WHERE j.\"job_id\" = ?", jobId);
    return l.isEmpty() ? Optional.empty() : Optional.of(l.get(0));
  }

  /** Every defined job (a definition stored), by id, with its latest claimed tick. */
  public List<Registered> list() throws SQLException {
    return query("WHERE j.\"spec\" IS NOT NULL", null);
  }

  /** Ids and shards of every defined job. */
  public Map<String, Integer> ids() throws SQLException {
    return withConnection(c -> {
      Map<String, Integer> out = new HashMap<>();
      try (PreparedStatement st = c.prepareStatement(
          "SELECT \"job_id\", \"shard\" FROM \"pmm_ha_jobs\" WHERE \"spec\" IS NOT NULL");
          ResultSet rs = st.executeQuery()) {
        while (rs.next()) {
          out.put(rs.getString(1), rs.getInt(2));
        }
      }
      return out;
    });
  }

  private List<Registered> query(String where, String param) throws SQLException {
    return withConnection(c -> query(c, where, param));
  }

  private static List<Registered> query(Connection c, String where, String param) throws SQLException {
    String sql = "SELECT j.\"job_id\", j.\"shard\", j.\"spec\", j.\"node\", j.\"node_since_ms\", j.\"updated_ms\", "
        + "r.\"tick_ms\", r.\"node\", r.\"incarnation\", r.\"started_ms\", r.\"ended_ms\", r.\"exit_code\", r.\"status\" "
        + "FROM \"pmm_ha_jobs\" j LEFT JOIN \"pmm_ha_job_runs\" r ON r.\"job_id\" = j.\"job_id\" AND r.\"tick_ms\" = "
        + "(SELECT MAX(m.\"tick_ms\") FROM \"pmm_ha_job_runs\" m WHERE m.\"job_id\" = j.\"job_id\") "
        + where + " ORDER BY j.\"job_id\"";
    List<Registered> out = new ArrayList<>();
    try (PreparedStatement st = c.prepareStatement(sql)) {
      if (param != null) {
        st.setString(1, param);
      }
      try (ResultSet rs = st.executeQuery()) {
        while (rs.next()) {
          Optional<Run> last = Optional.empty();
          long tick = rs.getLong(7);
          if (!rs.wasNull()) {
            last = Optional.of(new Run(rs.getString(1), tick, rs.getString(8), rs.getString(9), rs.getLong(10),
                (Long) rs.getObject(11, Long.class), (Integer) rs.getObject(12, Integer.class), rs.getString(13)));
          }
          out.add(new Registered(rs.getString(1), rs.getInt(2), rs.getString(3), rs.getString(4),
              (Long) rs.getObject(5, Long.class), rs.getLong(6), last));
        }
      }
    }
    return out;
  }

  // --- the claims ---

  /** A tick to claim, for {@link #claimLater}. */
  public record ClaimRequest(String jobId, long tickMs, String node, String incarnation, long startedMs) {}

  /**
   * {@link #claim}, batched with the claims asked for at the same time: one transaction for all of them,
   * committed before any answer, so a claimed tick is as durable as with a claim of its own. A batch that meets
   * a tick claimed already (rare: after a move or a partition) is rolled back and its claims are made one by
   * one, which tells each one its own answer.
   */
  public CompletableFuture<Claim> claimLater(ClaimRequest request) {
    return claims.submit(request);
  }

  List<Claim> claimAll(List<ClaimRequest> batch) throws SQLException {
    if (batch.size() > 1) {
      try {
        return inTransaction(c -> {
          try (PreparedStatement st = c.prepareStatement(CLAIM)) {
            for (ClaimRequest r : batch) {
              bindClaim(st, r);
              st.addBatch();
            }
            st.executeBatch();
          }
          return java.util.Collections.nCopies(batch.size(), Claim.CLAIMED);
        });
      } catch (SQLException e) {
        if (!isDuplicate(e)) {
          throw e;
        }
        // a tick of the batch was taken: nothing of it was written; each claim on its own
      }
    }
    return withConnection(c -> {
      List<Claim> out = new ArrayList<>(batch.size());
      for (ClaimRequest r : batch) {
        out.add(claim(c, r));
      }
      return out;
    });
  }

  private static final String CLAIM = "INSERT INTO \"pmm_ha_job_runs\" (" + RUN_COLUMNS
      + ") VALUES (?, ?, ?, ?, ?, NULL, NULL, 'running')";

  private static void bindClaim(PreparedStatement st, ClaimRequest r) throws SQLException {
    st.setString(1, r.jobId());
    st.setLong(2, r.tickMs());
    st.setString(3, r.node());
    st.setString(4, r.incarnation());
    st.setLong(5, r.startedMs());
  }

  /** Claims {@code tickMs} of the job for this incarnation; only a {@link Claim#CLAIMED} tick may run. */
  public Claim claim(String jobId, long tickMs, String node, String incarnation, long startedMs) throws SQLException {
    return withConnection(c -> claim(c, new ClaimRequest(jobId, tickMs, node, incarnation, startedMs)));
  }

  private static Claim claim(Connection c, ClaimRequest r) throws SQLException {
    try (PreparedStatement st = c.prepareStatement(CLAIM)) {
      bindClaim(st, r);
      st.executeUpdate();
      return Claim.CLAIMED;
    } catch (SQLException e) {
      if (isDuplicate(e)) {
        return Claim.TAKEN;
      }
      throw e;
    }
  }

  /**
   * Records the end of a claimed run. False when the row is no longer this incarnation's running claim (a newer
   * incarnation marked it lost meanwhile, during a partition).
   */
  public boolean finish(String jobId, long tickMs, String incarnation, long endedMs, Integer exitCode, String status)
      throws SQLException {
    return withConnection(c -> {
      try (PreparedStatement st = c.prepareStatement(FINISH)) {
        bindFinish(st, new Finish(jobId, tickMs, incarnation, endedMs, exitCode, status));
        return st.executeUpdate() == 1;
      }
    });
  }

  /** The end of a claimed run, for {@link #finishLater}. */
  public record Finish(String jobId, long tickMs, String incarnation, long endedMs, Integer exitCode, String status) {}

  /** {@link #finish}, batched with the ends recorded at the same time into one transaction. */
  public CompletableFuture<Boolean> finishLater(Finish f) {
    return finishes.submit(f);
  }

  private static List<Boolean> finishAll(Connection c, List<Finish> batch) throws SQLException {
    try (PreparedStatement st = c.prepareStatement(FINISH)) {
      for (Finish f : batch) {
        bindFinish(st, f);
        st.addBatch();
      }
      int[] updated = st.executeBatch();
      List<Boolean> out = new ArrayList<>(batch.size());
      for (int n : updated) {
        out.add(n == 1);
      }
      return out;
    }
  }

  private static final String FINISH = "UPDATE \"pmm_ha_job_runs\" SET \"ended_ms\" = ?, \"exit_code\" = ?, "
      + "\"status\" = ? WHERE \"job_id\" = ? AND \"tick_ms\" = ? AND \"incarnation\" = ? AND \"status\" = 'running'";

  private static void bindFinish(PreparedStatement st, Finish f) throws SQLException {
    st.setLong(1, f.endedMs());
    if (f.exitCode() == null) {
      st.setNull(2, java.sql.Types.INTEGER);
    } else {
      st.setInt(2, f.exitCode());
    }
    st.setString(3, f.status());
    st.setString(4, f.jobId());
    st.setLong(5, f.tickMs());
    st.setString(6, f.incarnation());
  }

  @FunctionalInterface
  private interface Sql<T> {
    T run(Connection c) throws SQLException;
  }

  /** Runs {@code work} on a connection checked out of the pool, and returns the connection. */
  private <T> T withConnection(Sql<T> work) throws SQLException {
    try (Connection c = checkOut()) {
      return work.run(c);
    }
  }

  /**
   * Runs {@code work} in one transaction on a connection checked out of the pool; on failure rolls back. The pool
   * restores auto-commit when the connection comes back, and evicts a connection that failed with a
   * connection-level error.
   */
  private <T> T inTransaction(Sql<T> work) throws SQLException {
    try (Connection c = checkOut()) {
      c.setAutoCommit(false);
      try {
        T out = work.run(c);
        c.commit();
        return out;
      } catch (SQLException | RuntimeException e) {
        try {
          c.rollback();
        } catch (SQLException ignored) {
          // a broken connection: the pool evicts it
        }
        throw e;
      }
    }
  }

  /** A connection of the pool; when none comes within the connection timeout, one line that says why. */
  private Connection checkOut() throws SQLException {
    try {
      return pool.getConnection();
    } catch (SQLException e) {
      Throwable reason = e.getCause() != null ? e.getCause() : e;
      String line = String.valueOf(reason.getMessage()).lines().findFirst().orElse("");
      throw new SQLTransientConnectionException("the job store cannot reach " + store.description() + ": " + line,
          e.getSQLState(), e);
    }
  }

  /** What a new incarnation of a job finds: the ticks it recorded lost and the job's newest claim. */
  public record TakeOver(List<Long> lost, Optional<Run> lastRun) {}

  /**
   * A job that starts on {@code node}: its definition as the journal has it, the new incarnation, and when the job
   * reached the node ({@code sinceMs}, the registry's {@code node_since_ms}).
   */
  public record Start(String jobId, int shard, String spec, String node, String incarnation, long sinceMs,
      long nowMs) {}

  /**
   * For a job that starts on this node: its registry row names the node (as {@link #saveDefinition} does), its
   * unfinished claims of earlier incarnations are marked lost, and its newest claim is read; starts that arrive
   * together share one transaction (see {@link Batcher}).
   */
  public CompletableFuture<TakeOver> start(Start start) {
    return starts.submit(start);
  }

  /**
   * The starts of many jobs in the caller's transaction: one batched update of the registry, one query for the
   * newest claims and one for the unfinished claims of earlier incarnations, which are marked lost.
   */
  private static List<TakeOver> startAll(Connection c, List<Start> batch) throws SQLException {
    try (PreparedStatement st = c.prepareStatement("UPDATE \"pmm_ha_jobs\" SET \"spec\" = ?, \"updated_ms\" = ?, "
        + "\"node\" = ?, \"node_since_ms\" = ? WHERE \"job_id\" = ?")) {
      for (Start s : batch) {
        st.setString(1, s.spec());
        st.setLong(2, s.nowMs());
        st.setString(3, s.node());
        st.setLong(4, s.sinceMs());
        st.setString(5, s.jobId());
        st.addBatch();
      }
      int[] updated = st.executeBatch();
      for (int i = 0; i < batch.size(); i++) {
        if (updated[i] == 0) { // no registry row (it was deleted by hand): as saveDefinition does
          Start s = batch.get(i);
          saveDefinition(c, s.jobId(), s.shard(), s.spec(), s.node(), s.sinceMs());
        }
      }
    }
    String in = "(" + String.join(", ", java.util.Collections.nCopies(batch.size(), "?")) + ")";
    Map<String, Run> newest = new HashMap<>();
    try (PreparedStatement st = c.prepareStatement("SELECT " + RUN_COLUMNS + " FROM (SELECT " + RUN_COLUMNS
        + ", ROW_NUMBER() OVER (PARTITION BY \"job_id\" ORDER BY \"tick_ms\" DESC) AS \"rn\" FROM \"pmm_ha_job_runs\" "
        + "WHERE \"job_id\" IN " + in + ") \"t\" WHERE \"rn\" = 1")) {
      for (int i = 0; i < batch.size(); i++) {
        st.setString(i + 1, batch.get(i).jobId());
      }
      try (ResultSet rs = st.executeQuery()) {
        while (rs.next()) {
          Run r = run(rs);
          newest.put(r.jobId(), r);
        }
      }
    }
    Map<String, List<Long>> running = new HashMap<>();
    Map<String, String> incarnations = new HashMap<>();
    batch.forEach(s -> incarnations.put(s.jobId(), s.incarnation()));
    try (PreparedStatement st = c.prepareStatement("SELECT \"job_id\", \"tick_ms\", \"incarnation\" FROM "
        + "\"pmm_ha_job_runs\" WHERE \"status\" = 'running' AND \"job_id\" IN " + in)) {
      for (int i = 0; i < batch.size(); i++) {
        st.setString(i + 1, batch.get(i).jobId());
      }
      try (ResultSet rs = st.executeQuery()) {
        while (rs.next()) {
          if (!rs.getString(3).equals(incarnations.get(rs.getString(1)))) {
            running.computeIfAbsent(rs.getString(1), k -> new ArrayList<>()).add(rs.getLong(2));
          }
        }
      }
    }
    if (!running.isEmpty()) {
      try (PreparedStatement st = c.prepareStatement("UPDATE \"pmm_ha_job_runs\" SET \"status\" = 'lost', "
          + "\"ended_ms\" = ? WHERE \"job_id\" = ? AND \"status\" = 'running' AND \"incarnation\" <> ?")) {
        for (Start s : batch) {
          if (running.containsKey(s.jobId())) {
            st.setLong(1, s.nowMs());
            st.setString(2, s.jobId());
            st.setString(3, s.incarnation());
            st.addBatch();
          }
        }
        st.executeBatch();
      }
    }
    List<TakeOver> out = new ArrayList<>(batch.size());
    for (Start s : batch) {
      List<Long> lost = running.getOrDefault(s.jobId(), List.of());
      Optional<Run> last = Optional.ofNullable(newest.get(s.jobId()));
      if (last.isPresent() && lost.contains(last.get().tickMs())) {
        Run r = last.get();
        last = Optional.of(new Run(r.jobId(), r.tickMs(), r.node(), r.incarnation(), r.startedMs(), s.nowMs(), null,
            "lost"));
      }
      out.add(new TakeOver(List.copyOf(lost), last));
    }
    return out;
  }

  /** The job's most recent claims, newest first. */
  public List<Run> runs(String jobId, int limit) throws SQLException {
    return withConnection(c -> {
      List<Run> out = new ArrayList<>();
      try (PreparedStatement st = c.prepareStatement("SELECT " + RUN_COLUMNS + " FROM \"pmm_ha_job_runs\" "
          + "WHERE \"job_id\" = ? ORDER BY \"tick_ms\" DESC")) {
        st.setString(1, jobId);
        st.setMaxRows(limit);
        try (ResultSet rs = st.executeQuery()) {
          while (rs.next() && out.size() < limit) {
            out.add(run(rs));
          }
        }
      }
      return out;
    });
  }

  private static Run run(ResultSet rs) throws SQLException {
    return new Run(rs.getString(1), rs.getLong(2), rs.getString(3), rs.getString(4), rs.getLong(5),
        (Long) rs.getObject(6, Long.class), (Integer) rs.getObject(7, Integer.class), rs.getString(8));
  }

  /** Deletes the job's claims of ticks before {@code beforeTickMs} (older than its run history keeps). */
  public int prune(String jobId, long beforeTickMs) throws SQLException {
    return withConnection(c -> {
      try (PreparedStatement st = c.prepareStatement(
          "DELETE FROM \"pmm_ha_job_runs\" WHERE \"job_id\" = ? AND \"tick_ms\" < ? AND \"status\" <> 'running'")) {
        st.setString(1, jobId);
        st.setLong(2, beforeTickMs);
        return st.executeUpdate();
      }
    });
  }

  /** A unique-key violation: PostgreSQL 23505, H2 23505 too. */
  static boolean isDuplicate(SQLException e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof SQLException s && ("23505".equals(s.getSQLState())
          || s.getNextException() != null && s.getNextException() != s && isDuplicate(s.getNextException()))) {
        return true;
      }
    }
    return false;
  }

  @Override
  public void close() {
    executor.shutdownNow();
    background.shutdownNow();
    pool.close();
  }
}
