package dev.pmmha.persistence;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;

/**
 * Plain JDBC connections, outside any pool, for the schema check, the fence and the store probe: each keeps one
 * connection of its own so that it never waits behind the journal's or the job store's work.
 */
public final class Connections {

  private Connections() {}

  /** A fresh connection to the store, with the settings' connection timeout. */
  public static Connection open(StoreSettings store) throws SQLException {
    DriverManager.setLoginTimeout((int) Math.max(1, store.connectionTimeout().toSeconds()));
    return DriverManager.getConnection(store.url(), store.user(), store.password());
  }

  /** Closes a connection that may already be broken; returns null, for {@code conn = closeQuietly(conn)}. */
  public static Connection closeQuietly(Connection connection) {
    if (connection != null) {
      try {
        connection.close();
      } catch (SQLException ignored) {
        // already broken: nothing more to release
      }
    }
    return null;
  }

  /**
   * Closes a connection at once, even while another thread waits on it: {@link Connection#abort} shuts its socket,
   * so a statement hung on a link that drops packets fails there and then. {@link Connection#close} would instead
   * wait behind that statement (or send its goodbye into the same dead link).
   */
  public static void abort(Connection connection) {
    if (connection == null) {
      return;
    }
    try {
      connection.abort(Runnable::run);
    } catch (SQLException | RuntimeException e) {
      closeQuietly(connection);
    }
  }
}
