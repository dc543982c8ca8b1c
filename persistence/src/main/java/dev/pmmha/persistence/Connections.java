package dev.pmmha.persistence;

import java.sql.Connection;
import java.sql.SQLException;

/** JDBC connection helpers shared by the fence and the store probe. */
public final class Connections {

  private Connections() {}

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
}
