package dev.pmmha.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.pmmha.persistence.Connections;
import dev.pmmha.persistence.StoreSettings;
import dev.pmmha.persistence.StoreUnavailableException;
import dev.pmmha.persistence.schema.Schema;
import dev.pmmha.runtime.DeployedNode;
import dev.pmmha.testkit.PostgresServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The compose file's PostgreSQL set-up works for pmm-ha: after the init script, a node configured exactly as
 * compose.yaml configures it creates its tables as the pmm-managed user, and Grafana's user owns its database.
 * Also shows why the script adds the public-schema grant to the guide's SQL: without it (PostgreSQL 15 and
 * later) the node cannot create its tables.
 */
@Tag("integration")
class PostgresInitIT {

  static final Compose COMPOSE = Compose.load(Repo.COMPOSE, Compose.dotEnv(Repo.ENV_EXAMPLE));

  /** The active node's environment from compose.yaml, its PostgreSQL address moved to the throwaway server. */
  static StoreSettings nodeStore(PostgresServer pg, Map<String, String> extra) {
    Map<String, String> env = new LinkedHashMap<>(Compose.environment(COMPOSE.service("pmm-server-active")));
    env.put("PMM_POSTGRES_ADDR", pg.host() + ":" + pg.port());
    env.putAll(extra);
    return StoreSettings.create(DeployedNode.of(env).config);
  }

  @Test
  void aNodeCreatesItsTablesAsTheUserTheScriptCreates(@TempDir Path tmp) throws Exception {
    Map<String, String> pgEnv = Compose.environment(COMPOSE.service("postgres"));
    try (PostgresServer pg = PostgresInit.startServer()) {
      // the guide's SQL alone: the database and the user exist, but PostgreSQL 15+ gives the user no CREATE on
      // the public schema, so the node cannot create its journal
      String guideOnly = Repo.read(Repo.PG_INIT).replaceAll("(?m)^GRANT ALL ON SCHEMA public TO .*\\n", "");
      assertNotEquals(Repo.read(Repo.PG_INIT), guideOnly, "the schema grants are in the script");
      Path guideScript = tmp.resolve("guide-only.sh");
      Files.writeString(guideScript, guideOnly);
      Tools.Result r = PostgresInit.run(guideScript, pg, pgEnv);
      assertEquals(0, r.exitCode(), r.stdout() + r.stderr());
      StoreSettings store = nodeStore(pg, Map.of("PMM_HA_STORE_STARTUP_WAIT", "3s"));
      StoreUnavailableException refused = assertThrows(StoreUnavailableException.class, () -> Schema.ensure(store));
      assertTrue(refused.getMessage().contains("permission denied"), refused.getMessage());
      dropAll(pg, pgEnv);

      // the script as shipped
      r = PostgresInit.run(Repo.PG_INIT, pg, pgEnv);
      assertEquals(0, r.exitCode(), r.stdout() + r.stderr());
      StoreSettings shipped = nodeStore(pg, Map.of());
      assertEquals(pgEnv.get("PG_USERNAME"), shipped.user());
      Schema.ensure(shipped);
      try (Connection c = Connections.open(shipped); Statement st = c.createStatement();
          ResultSet rs = st.executeQuery("SELECT count(*) FROM information_schema.tables "
              + "WHERE table_schema = 'public' AND table_name IN ('event_journal', 'snapshot') "
              + "AND table_catalog = 'pmm-managed'")) {
        rs.next();
        assertEquals(2, rs.getInt(1), "journal and snapshot tables in pmm-managed, created by " + shipped.user());
      }
      try (Connection c = DriverManager.getConnection("jdbc:postgresql://" + pg.host() + ":" + pg.port() + "/grafana",
              pgEnv.get("GF_USERNAME"), pgEnv.get("GF_PASSWORD"));
          Statement st = c.createStatement()) {
        st.execute("CREATE TABLE grafana_probe (id int)");
        st.execute("DROP TABLE grafana_probe");
      }
      try (Connection c = DriverManager.getConnection(
              "jdbc:postgresql://" + pg.host() + ":" + pg.port() + "/pmm-managed", pg.user(), pg.password());
          Statement st = c.createStatement();
          ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'")) {
        rs.next();
        assertEquals(1, rs.getInt(1), "pg_stat_statements, as in the guide");
      }
    }
  }

  private static void dropAll(PostgresServer pg, Map<String, String> pgEnv) throws Exception {
    try (Connection c = DriverManager.getConnection(
            "jdbc:postgresql://" + pg.host() + ":" + pg.port() + "/postgres", pg.user(), pg.password());
        Statement st = c.createStatement()) {
      st.execute("DROP DATABASE \"pmm-managed\" WITH (FORCE)");
      st.execute("DROP DATABASE grafana WITH (FORCE)");
      st.execute("DROP ROLE \"" + pgEnv.get("PG_USERNAME") + "\"");
      st.execute("DROP ROLE \"" + pgEnv.get("GF_USERNAME") + "\"");
    }
  }
}
