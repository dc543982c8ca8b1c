package dev.pmmha.testkit;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A throwaway PostgreSQL for tests: {@code initdb} in a temp dir (as the {@code postgres} user when run as
 * root), a random free port on 127.0.0.1, one fresh database per {@link #createDatabase()}. Stopped and removed
 * by {@link #close()}. When {@code PMM_HA_TEST_PG_URL} is set (a JDBC URL of a server the tests may create
 * databases on), that server is used instead and only the databases this object created are dropped.
 */
public final class PostgresServer implements AutoCloseable {

  private final Path dataDir;
  private final String host;
  private final int port;
  private final String adminUser;
  private final String adminPassword;
  private final String externalBase;
  private final List<String> created = new ArrayList<>();
  private final boolean asPostgresUser;
  private final Path bin;
  private final java.util.Map<String, String> settings = new java.util.LinkedHashMap<>();

  private PostgresServer(
      Path dataDir, Path bin, boolean asPostgresUser, String host, int port, String user, String pw, String ext) {
    this.dataDir = dataDir;
    this.bin = bin;
    this.asPostgresUser = asPostgresUser;
    this.host = host;
    this.port = port;
    this.adminUser = user;
    this.adminPassword = pw;
    this.externalBase = ext;
  }

  public static PostgresServer start() {
    String external = System.getenv("PMM_HA_TEST_PG_URL");
    if (external != null && !external.isBlank()) {
      return external(external.trim());
    }
    return start(java.util.Map.of());
  }

  /**
   * A throwaway server of its own (never the external one) started with {@code settings} as {@code -c name=value}
   * options besides the usual ones, at every start.
   */
  public static PostgresServer start(java.util.Map<String, String> settings) {
    Path dir = null;
    try {
      Path bin = findBinaries();
      boolean root = "root".equals(System.getProperty("user.name"));
      dir = newDir(root);
      Path data = dir.resolve("data");
      run(cmd(root, bin.resolve("initdb").toString(), "-D", data.toString(), "-U", "postgres", "-A", "trust",
          "-E", "UTF8", "--no-sync"), Duration.ofSeconds(120));
      PostgresServer pg = new PostgresServer(data, bin, root, "127.0.0.1", freePort(), "postgres", "", null);
      pg.settings.putAll(settings);
      return pg.startedOrRemoved();
    } catch (IOException | RuntimeException e) {
      deleteTree(dir);
      throw new IllegalStateException("cannot start a throwaway PostgreSQL: " + e.getMessage(), e);
    }
  }

  /**
   * A streaming-replication standby of this server: {@code pg_basebackup -R} into a temp dir of its own, started on
   * another free port with {@code settings}. Its {@code cluster_name} setting is the name it reports to this
   * server ({@code application_name}), which {@code synchronous_standby_names} refers to.
   */
  public PostgresServer standby(java.util.Map<String, String> settings) {
    return standby(settings, port);
  }

  /**
   * A standby as {@link #standby(java.util.Map)}, that reaches this server on {@code viaPort} of its host (a
   * {@link TcpProxy} in front of it, so that a test can cut the replication): the base backup and the standby's
   * {@code primary_conninfo} both go through it.
   */
  public PostgresServer standby(java.util.Map<String, String> settings, int viaPort) {
    if (dataDir == null) {
      throw new UnsupportedOperationException("an external PostgreSQL (PMM_HA_TEST_PG_URL) has no test standby");
    }
    Path dir = null;
    try {
      dir = newDir(asPostgresUser);
      Path data = dir.resolve("data");
      run(cmd(asPostgresUser, bin.resolve("pg_basebackup").toString(), "-h", host, "-p", String.valueOf(viaPort),
          "-U", adminUser, "-D", data.toString(), "-X", "stream", "-R", "-c", "fast", "--no-sync"),
          Duration.ofSeconds(120));
      PostgresServer standby =
          new PostgresServer(data, bin, asPostgresUser, host, freePort(), adminUser, adminPassword, null);
      standby.settings.putAll(settings);
      return standby.startedOrRemoved();
    } catch (IOException | RuntimeException e) {
      deleteTree(dir);
      throw new IllegalStateException("cannot start a standby of " + host + ":" + port + ": " + e.getMessage(), e);
    }
  }

  /** Starts the server; if that fails, stops whatever did start and removes its directory before rethrowing. */
  private PostgresServer startedOrRemoved() {
    try {
      startServer();
      return this;
    } catch (RuntimeException e) {
      close();
      throw e;
    }
  }

  /** Promotes this standby to a primary; returns when it accepts writes ({@code pg_ctl promote -w}). */
  public void promote() {
    run(cmd(asPostgresUser, bin.resolve("pg_ctl").toString(), "-D", dataDir.toString(), "-w", "-t", "60",
        "promote"), Duration.ofSeconds(90));
  }

  /** The postmaster's PID, from {@code postmaster.pid}; -1 when the server is not running. */
  public long pid() {
    try {
      return Long.parseLong(Files.readAllLines(dataDir.resolve("postmaster.pid")).get(0).trim());
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  private static Path newDir(boolean asPostgresUser) throws IOException {
    Path dir = Files.createTempDirectory("pmm-ha-pg-");
    if (asPostgresUser) {
      run(List.of("chown", "postgres:postgres", dir.toString()), Duration.ofSeconds(10));
    }
    return dir;
  }

  private static PostgresServer external(String url) {
    // jdbc:postgresql://host:port/db?user=..&password=..
    java.net.URI uri = java.net.URI.create(url.substring("jdbc:".length()));
    String user = "postgres";
    String pw = "";
    if (uri.getQuery() != null) {
      for (String kv : uri.getQuery().split("&")) {
        String[] p = kv.split("=", 2);
        if (p[0].equals("user")) user = p[1];
        if (p[0].equals("password")) pw = p.length > 1 ? p[1] : "";
      }
    }
    return new PostgresServer(null, null, false, uri.getHost(), uri.getPort() < 0 ? 5432 : uri.getPort(), user, pw, url);
  }

  /** Starts the server process (again, after {@link #stopServer()}); waits until it accepts connections. */
  public void startServer() {
    if (dataDir == null) {
      throw new UnsupportedOperationException("an external PostgreSQL (PMM_HA_TEST_PG_URL) is not started by tests");
    }
    // synchronous_commit on: stopServer's immediate stop must keep every acknowledged commit, as the fence needs
    // (docs/decisions/test-postgres-synchronous-commit.md).
    String opts = "-p " + port + " -c listen_addresses=127.0.0.1 -k " + dataDir.getParent()
        + " -c fsync=off -c synchronous_commit=on -c full_page_writes=off -c max_connections=200";
    for (var e : settings.entrySet()) {
      // after the defaults above, which they override; no spaces in values: pg_ctl passes -o to a shell
      opts += " -c " + e.getKey() + "=" + e.getValue();
    }
    run(cmd(asPostgresUser, bin.resolve("pg_ctl").toString(), "-D", dataDir.toString(), "-l",
        dataDir.getParent().resolve("server.log").toString(), "-o", opts, "-w", "-t", "60", "start"),
        Duration.ofSeconds(90));
  }

  /** Stops the server process immediately, as a crash or an outage would; the data stays. */
  public void stopServer() {
    stopServer("immediate");
  }

  /**
   * Stops the server with {@code pg_ctl -m mode}: {@code immediate} as a crash would, {@code fast} as a planned
   * switchover does (sessions are ended, the standbys receive all WAL first).
   */
  public void stopServer(String mode) {
    if (dataDir == null) {
      throw new UnsupportedOperationException("an external PostgreSQL (PMM_HA_TEST_PG_URL) is not stopped by tests");
    }
    run(cmd(asPostgresUser, bin.resolve("pg_ctl").toString(), "-D", dataDir.toString(), "-m", mode, "-w",
        "stop"), Duration.ofSeconds(60));
  }

  /**
   * This stopped former primary becomes a standby of {@code primary}: {@code pg_rewind -R} (which needs
   * {@code wal_log_hints = on}) discards whatever it had that {@code primary} did not, and points it at
   * {@code primary}; then it starts. What Patroni does to a demoted primary.
   */
  public void rewindAndFollow(PostgresServer primary) {
    run(cmd(asPostgresUser, bin.resolve("pg_rewind").toString(), "-D", dataDir.toString(), "-R",
        "--source-server=host=" + primary.host + " port=" + primary.port + " user=" + primary.adminUser
            + " dbname=postgres"), Duration.ofSeconds(120));
    startServer();
  }

  /** A new, empty database; returns its JDBC URL (user and password in {@link #user()} / {@link #password()}). */
  public String createDatabase() {
    String name = "pmmha_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
    try (Connection c = DriverManager.getConnection(adminUrl("postgres"), adminUser, adminPassword);
        Statement st = c.createStatement()) {
      st.execute("CREATE DATABASE " + name);
    } catch (SQLException e) {
      throw new IllegalStateException("cannot create test database: " + e.getMessage(), e);
    }
    created.add(name);
    return adminUrl(name);
  }

  public String host() {
    return host;
  }

  public int port() {
    return port;
  }

  public String user() {
    return adminUser;
  }

  public String password() {
    return adminPassword;
  }

  private String adminUrl(String db) {
    return "jdbc:postgresql://" + host + ":" + port + "/" + db;
  }

  @Override
  public void close() {
    if (externalBase != null) {
      for (String db : created) {
        try (Connection c = DriverManager.getConnection(adminUrl("postgres"), adminUser, adminPassword);
            Statement st = c.createStatement()) {
          st.execute("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
        } catch (SQLException e) {
          System.err.println("could not drop test database " + db + ": " + e.getMessage());
        }
      }
      return;
    }
    try {
      if (pid() > 0) { // a crashed (stopped) server has nothing left to stop
        stopServer();
      }
    } catch (RuntimeException e) {
      System.err.println("could not stop test PostgreSQL: " + e.getMessage());
    }
    deleteTree(dataDir.getParent());
  }

  private static List<String> cmd(boolean asPostgres, String... args) {
    List<String> out = new ArrayList<>();
    if (asPostgres) {
      out.addAll(List.of("runuser", "-u", "postgres", "--"));
    }
    out.addAll(List.of(args));
    return out;
  }

  private static void run(List<String> command, Duration timeout) {
    try {
      Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
      byte[] out = p.getInputStream().readAllBytes();
      if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        p.destroyForcibly();
        throw new IllegalStateException("timed out: " + String.join(" ", command));
      }
      if (p.exitValue() != 0) {
        throw new IllegalStateException(
            "failed (" + p.exitValue() + "): " + String.join(" ", command) + "\n" + new String(out));
      }
    } catch (IOException e) {
      throw new IllegalStateException("cannot run " + command.get(0) + ": " + e.getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  private static Path findBinaries() throws IOException {
    String env = System.getenv("PMM_HA_PG_BIN");
    if (env != null && !env.isBlank()) {
      return Path.of(env);
    }
    Path base = Path.of("/usr/lib/postgresql");
    if (Files.isDirectory(base)) {
      try (Stream<Path> s = Files.list(base)) {
        var found = s.map(p -> p.resolve("bin")).filter(p -> Files.isExecutable(p.resolve("initdb")))
            .max(Comparator.comparing(p -> versionOf(p.getParent().getFileName().toString())));
        if (found.isPresent()) {
          return found.get();
        }
      }
    }
    throw new IllegalStateException(
        "PostgreSQL server binaries not found under /usr/lib/postgresql: install postgresql, set PMM_HA_PG_BIN, "
            + "or point PMM_HA_TEST_PG_URL at a server");
  }

  private static int versionOf(String s) {
    try {
      return Integer.parseInt(s.replaceAll("[^0-9].*", ""));
    } catch (NumberFormatException e) {
      return 0;
    }
  }

  /** Ports this JVM handed out already: the kernel may offer a port again as soon as its probe socket closed. */
  private static final java.util.Set<Integer> HANDED_OUT = java.util.concurrent.ConcurrentHashMap.newKeySet();

  /**
   * A port nothing listens on now and that this JVM has not handed out before, so that the ports asked for one
   * cluster (often before any of them is bound) are distinct.
   */
  public static int freePort() {
    for (int attempt = 0; attempt < 100; attempt++) {
      int port;
      try (ServerSocket s = new ServerSocket(0)) {
        s.setReuseAddress(true);
        port = s.getLocalPort();
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
      if (HANDED_OUT.add(port)) {
        return port;
      }
    }
    throw new IllegalStateException("no free port that was not handed out already after 100 attempts");
  }

  private static void deleteTree(Path root) {
    if (root == null || !Files.exists(root)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(root)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> {
        try {
          Files.deleteIfExists(p);
        } catch (IOException e) {
          // best effort: temp dir
        }
      });
    } catch (IOException e) {
      // best effort
    }
  }
}
