package dev.pmmha.deploy;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.pmmha.testkit.PostgresServer;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * deploy/docker/postgres/init-pmm-ha.sh run against a throwaway PostgreSQL, the way the postgres image runs it on
 * its first start (psql as the superuser, the users and passwords in the environment).
 */
final class PostgresInit {

  private PostgresInit() {}

  /** A throwaway server of this test's own: the script creates fixed database and role names. */
  static PostgresServer startServer() {
    String shared = System.getenv("PMM_HA_TEST_PG_URL");
    assumeTrue(shared == null || shared.isBlank(), "PMM_HA_TEST_PG_URL points at a shared PostgreSQL, and the "
        + "init script creates the databases pmm-managed and grafana and their users: it needs a throwaway server "
        + "(unset PMM_HA_TEST_PG_URL, with PostgreSQL's binaries installed, to run this test)");
    return PostgresServer.start();
  }

  /**
   * Prepares a throwaway server for nodes whose environment holds the Secret's user and password: the init script
   * with the postgres service's environment from compose.yaml and those credentials. Returns PMM_POSTGRES_ADDR.
   */
  static String prepareFor(PostgresServer pg, Map<String, String> nodeEnv) {
    Map<String, String> pgEnv = new LinkedHashMap<>(
        Compose.environment(Compose.load(Repo.COMPOSE, Compose.dotEnv(Repo.ENV_EXAMPLE)).service("postgres")));
    pgEnv.put("PG_USERNAME", nodeEnv.get("PMM_POSTGRES_USERNAME"));
    pgEnv.put("PG_PASSWORD", nodeEnv.get("PMM_POSTGRES_DBPASSWORD"));
    Tools.Result init = run(Repo.PG_INIT, pg, pgEnv);
    if (init.exitCode() != 0) {
      throw new AssertionError("init-pmm-ha.sh exited with " + init.exitCode() + ":\n" + init.stdout() + init.stderr());
    }
    return pg.host() + ":" + pg.port();
  }

  /** Runs the script (or another version of it) with the postgres service's environment from compose.yaml. */
  static Tools.Result run(Path script, PostgresServer pg, Map<String, String> serviceEnv) {
    Tools.require("psql", "apt-get install postgresql-client");
    Map<String, String> env = new LinkedHashMap<>(serviceEnv);
    env.put("PGHOST", pg.host());
    env.put("PGPORT", String.valueOf(pg.port()));
    env.put("PGPASSWORD", pg.password());
    env.put("POSTGRES_USER", pg.user());
    env.put("POSTGRES_DB", "postgres");
    return Tools.run(Tools.cmd("/bin/sh", script), env, null, 60);
  }
}
