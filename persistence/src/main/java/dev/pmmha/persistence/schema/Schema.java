package dev.pmmha.persistence.schema;

import dev.pmmha.persistence.Connections;
import dev.pmmha.persistence.StoreSettings;
import dev.pmmha.persistence.StoreUnavailableException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Creates the journal's tables at start, idempotently and safely when several nodes start at once: one
 * transaction, serialized by an advisory lock on PostgreSQL, every statement {@code IF NOT EXISTS}.
 */
public final class Schema {

  private static final Logger log = LoggerFactory.getLogger(Schema.class);
  /** Arbitrary, fixed: the advisory lock every pmm-ha node takes while it creates the schema. */
  private static final long SCHEMA_LOCK = 0x706d6d2d6861L;

  private Schema() {}

  /**
   * Waits until the store answers (up to {@link StoreSettings#startupWait()}, logging each failed attempt),
   * then creates what is missing.
   *
   * @throws StoreUnavailableException with an operator-readable message when the store cannot be used
   */
  public static void ensure(StoreSettings store) {
    long deadline = System.nanoTime() + store.startupWait().toNanos();
    int attempt = 0;
    while (true) {
      attempt++;
      try (Connection c = Connections.open(store)) {
        apply(c, store.kind());
        log.info("Store ready: {} (schema checked)", store.description());
        return;
      } catch (SQLException e) {
        String reason = describe(e);
        if (isPermanent(e)) {
          throw new StoreUnavailableException("cannot use " + store.description() + ": " + reason, e);
        }
        if (System.nanoTime() > deadline) {
          throw new StoreUnavailableException(
              "gave up waiting for "
                  + store.description()
                  + " after "
                  + store.startupWait().toSeconds()
                  + " s (PMM_HA_STORE_STARTUP_WAIT): "
                  + reason,
              e);
        }
        log.warn("Waiting for {} (attempt {}): {}", store.description(), attempt, reason);
        sleep(Duration.ofSeconds(1));
      }
    }
  }

  static void apply(Connection c, StoreSettings.Kind kind) throws SQLException {
    List<String> statements = statements(kind);
    boolean auto = c.getAutoCommit();
    c.setAutoCommit(false);
    try (Statement st = c.createStatement()) {
      if (kind == StoreSettings.Kind.POSTGRES) {
        st.execute("SELECT pg_advisory_xact_lock(" + SCHEMA_LOCK + ")");
      }
      for (String sql : statements) {
        st.execute(sql);
      }
      c.commit();
    } catch (SQLException e) {
      c.rollback();
      throw e;
    } finally {
      c.setAutoCommit(auto);
    }
  }

  static List<String> statements(StoreSettings.Kind kind) {
    String resource = kind == StoreSettings.Kind.POSTGRES ? "postgres.sql" : "h2.sql";
    try (InputStream in = Schema.class.getResourceAsStream("/pmm-ha/schema/" + resource)) {
      if (in == null) {
        throw new IllegalStateException("schema resource missing: " + resource);
      }
      String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      List<String> out = new ArrayList<>();
      StringBuilder current = new StringBuilder();
      boolean inBody = false; // inside a $$ ... $$ function body, where ';' does not end the statement
      for (String line : text.split("\n")) {
        if (!inBody && line.trim().startsWith("--")) {
          continue;
        }
        current.append(line).append('\n');
        int dollars = line.split("\\$\\$", -1).length - 1;
        if (dollars % 2 == 1) {
          inBody = !inBody;
        }
        if (!inBody && line.trim().endsWith(";")) {
          String sql = current.toString().trim();
          out.add(sql.substring(0, sql.length() - 1));
          current.setLength(0);
        }
      }
      return out;
    } catch (IOException e) {
      throw new IllegalStateException("cannot read schema resource " + resource, e);
    }
  }

  /** Bad credentials, a missing database or no permission: waiting will not help. */
  static boolean isPermanent(SQLException e) {
    String state = e.getSQLState();
    return state != null && (state.startsWith("28") || state.equals("3D000") || state.equals("42501"));
  }

  static String describe(SQLException e) {
    String state = e.getSQLState();
    String msg = String.valueOf(e.getMessage()).lines().findFirst().orElse("");
    if (state != null && state.startsWith("28")) {
      return "authentication failed (check PMM_POSTGRES_USERNAME and PMM_POSTGRES_DBPASSWORD): " + msg;
    }
    if ("3D000".equals(state)) {
      return "the database does not exist (create it, or set PMM_POSTGRES_DBNAME): " + msg;
    }
    return msg;
  }

  private static void sleep(Duration d) {
    try {
      Thread.sleep(d.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new StoreUnavailableException("interrupted while waiting for the store", e);
    }
  }
}
