package dev.pmmha.persistence.fence;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import org.h2.api.Trigger;

/**
 * The fence check of the embedded H2 store (PostgreSQL uses a PL/pgSQL trigger): a journal tag
 * {@code pmm-ha-epoch:N} is inserted only while epoch N holds an unexpired, unreleased lease, in the same
 * transaction as the event it tags. Runs inside the H2 server, whose clock is the database clock.
 */
public final class H2FenceTrigger implements Trigger {

  @Override
  public void fire(Connection conn, Object[] oldRow, Object[] newRow) throws SQLException {
    String tag = String.valueOf(newRow[1]);
    if (!tag.startsWith(Fence.EPOCH_TAG_PREFIX)) {
      return;
    }
    long epoch = Long.parseLong(tag.substring(Fence.EPOCH_TAG_PREFIX.length()));
    try (PreparedStatement st = conn.prepareStatement(
            "SELECT \"epoch\", \"lease_until_ms\", \"released\" FROM PUBLIC.\"pmm_ha_fence\" WHERE \"id\" = 1 FOR UPDATE");
        ResultSet rs = st.executeQuery()) {
      long now = System.currentTimeMillis();
      if (!rs.next() || rs.getLong(1) != epoch || rs.getBoolean(3) || rs.getLong(2) <= now) {
        throw new SQLException("pmm-ha fence: write of epoch " + epoch + " rejected", "P0001");
      }
    }
  }
}
