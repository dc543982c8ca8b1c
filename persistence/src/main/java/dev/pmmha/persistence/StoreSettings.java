package dev.pmmha.persistence;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

/**
 * Where the journal lives: the external PostgreSQL of PMM ({@code PMM_POSTGRES_*}), an explicit JDBC URL
 * ({@code PMM_HA_STORE_URL}, used by the quick start for a shared embedded H2 server), or, when neither is
 * set, an embedded H2 file under {@code PMM_HA_DATA_DIR}.
 */
public final class StoreSettings {

  public enum Kind {
    POSTGRES("slick.jdbc.PostgresProfile$", "org.postgresql.Driver"),
    H2("slick.jdbc.H2Profile$", "org.h2.Driver");

    final String slickProfile;
    final String driver;

    Kind(String slickProfile, String driver) {
      this.slickProfile = slickProfile;
      this.driver = driver;
    }
  }

  private final Kind kind;
  private final String url;
  private final String user;
  private final String password;
  private final int poolSize;
  private final Duration connectionTimeout;
  private final Duration startupWait;
  private final String description;

  private StoreSettings(
      Kind kind,
      String url,
      String user,
      String password,
      int poolSize,
      Duration connectionTimeout,
      Duration startupWait,
      String description) {
    this.kind = kind;
    this.url = url;
    this.user = user;
    this.password = password;
    this.poolSize = poolSize;
    this.connectionTimeout = connectionTimeout;
    this.startupWait = startupWait;
    this.description = description;
  }

  /** Reads {@code pmm-ha.store}; throws {@link SettingsException} naming the variable and the bad value. */
  public static StoreSettings create(Config root) {
    Config c = root.getConfig("pmm-ha.store");
    int poolSize = c.getInt("pool-size");
    if (poolSize < 1 || poolSize > 50) {
      throw new SettingsException("PMM_HA_STORE_POOL_SIZE", String.valueOf(poolSize), "a pool size from 1 to 50");
    }
    Duration connectionTimeout = c.getDuration("connection-timeout");
    Duration startupWait = c.getDuration("startup-wait");
    String explicitUrl = c.getString("url").trim();
    String addr = c.getString("postgres-addr").trim();
    String user = c.getString("username");
    String password = c.getString("password");

    if (!explicitUrl.isEmpty()) {
      Kind kind;
      if (explicitUrl.startsWith("jdbc:postgresql:")) {
        kind = Kind.POSTGRES;
      } else if (explicitUrl.startsWith("jdbc:h2:")) {
        kind = Kind.H2;
      } else {
        throw new SettingsException(
            "PMM_HA_STORE_URL", explicitUrl, "a JDBC URL starting with jdbc:postgresql: or jdbc:h2:");
      }
      String u = kind == Kind.H2 && user.isEmpty() ? "sa" : user;
      String url = kind == Kind.POSTGRES ? withSessionLimits(primaryOnly(explicitUrl)) : explicitUrl;
      return new StoreSettings(
          kind, url, u, password, poolSize, connectionTimeout, startupWait, redact(explicitUrl));
    }
    if (!addr.isEmpty()) {
      java.util.List<HostPort> hosts = HostPort.parseList(addr, 5432, "PMM_POSTGRES_ADDR");
      String hostList = hosts.stream().map(HostPort::toString).collect(java.util.stream.Collectors.joining(","));
      String dbName = c.getString("dbname").trim();
      if (dbName.isEmpty()) {
        throw new SettingsException("PMM_POSTGRES_DBNAME", dbName, "a database name, e.g. pmm-managed");
      }
      if (user.isEmpty()) {
        throw new SettingsException("PMM_POSTGRES_USERNAME", user, "a PostgreSQL user name");
      }
      StringBuilder jdbc =
          new StringBuilder("jdbc:postgresql://")
              .append(hostList)
              .append('/')
              .append(dbName)
              .append("?ApplicationName=pmm-ha")
              // the fence and the journal write: never to a standby, and with several hosts, to the primary
              .append("&targetServerType=primary")
              .append("&connectTimeout=")
              .append(Math.max(1, connectionTimeout.toSeconds()))
              .append("&socketTimeout=30&tcpKeepAlive=true");
      String sslMode = c.getString("ssl-mode").trim();
      if (!sslMode.isEmpty()) {
        if (!sslMode.matches("disable|allow|prefer|require|verify-ca|verify-full")) {
          throw new SettingsException(
              "PMM_POSTGRES_SSL_MODE", sslMode, "one of disable, allow, prefer, require, verify-ca, verify-full");
        }
        jdbc.append("&sslmode=").append(sslMode);
      }
      return new StoreSettings(
          Kind.POSTGRES,
          withSessionLimits(jdbc.toString()),
          user,
          password,
          poolSize,
          connectionTimeout,
          startupWait,
          "PostgreSQL " + hostList + "/" + dbName);
    }
    Path dir = Path.of(c.getString("embedded-dir")).toAbsolutePath().normalize();
    String h2 = "jdbc:h2:file:" + dir.resolve("pmm-ha") + ";DB_CLOSE_ON_EXIT=FALSE";
    return new StoreSettings(
        Kind.H2, h2, "sa", "", poolSize, connectionTimeout, startupWait, "embedded H2 in " + dir);
  }

  /**
   * A URL with several hosts ({@code jdbc:postgresql://pg-a:5432,pg-b:5432/db}) connects to the primary among them
   * ({@code targetServerType=primary} added when absent): the fence and the journal must write where the writes
   * last. A list with an empty host, a bad port or a duplicate, or another target type, is refused.
   */
  static String primaryOnly(String url) {
    String rest = url.substring("jdbc:postgresql:".length());
    if (!rest.startsWith("//")) {
      return url;
    }
    int end = rest.length();
    for (char stop : new char[] {'/', '?'}) {
      int i = rest.indexOf(stop, 2);
      if (i >= 0 && i < end) {
        end = i;
      }
    }
    String authority = rest.substring(2, end);
    if (!authority.contains(",")) {
      return url;
    }
    try {
      HostPort.parseList(authority, 5432, "PMM_HA_STORE_URL");
    } catch (SettingsException e) {
      throw new SettingsException("PMM_HA_STORE_URL", redact(url),
          "a host list host1:port,host2:port without an empty host, a bad port or a duplicate ("
              + e.getMessage() + ")");
    }
    java.util.regex.Matcher m =
        java.util.regex.Pattern.compile("[?&]targetServerType=([^&]*)", java.util.regex.Pattern.CASE_INSENSITIVE)
            .matcher(url);
    if (m.find()) {
      if (!m.group(1).equalsIgnoreCase("primary") && !m.group(1).equalsIgnoreCase("master")) {
        throw new SettingsException("PMM_HA_STORE_URL", redact(url),
            "targetServerType=primary (or none) with several hosts: the fence must write on the primary");
      }
      return url;
    }
    return url + (url.contains("?") ? "&" : "?") + "targetServerType=primary";
  }

  /**
   * A node paused (SIGSTOP, a VM freeze) or cut off in the middle of a transaction keeps its row locks, among them
   * the share lock its journal write's fence check takes on the fence row, and would block the next leader's
   * take-over until it resumes. PostgreSQL ends such a session after 1 s idle in a transaction, releasing its
   * locks: the failover lab saw a lost machine's open journal write hold the next leader for 4 s with 5 s here.
   * pmm-ha's own transactions are a few statements sent back to back, never idle for long.
   */
  static String withSessionLimits(String url) {
    if (url.contains("options=")) {
      return url;
    }
    return url + (url.contains("?") ? "&" : "?") + "options=-c%20idle_in_transaction_session_timeout%3D1000";
  }

  private static String redact(String url) {
    return url.replaceAll("(?i)(password=)[^&;]*", "$1***");
  }

  /**
   * The configuration for the JDBC plugin: one shared, small pool that the journal, the snapshot store,
   * the read journal and the durable state store all use.
   */
  public Config pluginConfig() {
    Map<String, Object> db = new HashMap<>();
    db.put("url", url);
    db.put("user", user);
    db.put("password", password);
    db.put("driver", kind.driver);
    db.put("numThreads", poolSize);
    db.put("maxConnections", poolSize);
    db.put("minConnections", 1);
    db.put("connectionTimeout", connectionTimeout.toMillis());
    db.put("validationTimeout", Math.min(connectionTimeout.toMillis(), 2000L));
    db.put("queueSize", 1000);
    Map<String, Object> shared = new HashMap<>();
    shared.put("profile", kind.slickProfile);
    shared.put("db", db);
    return ConfigFactory.empty()
        .withValue("pekko-persistence-jdbc.shared-databases.pmm-ha", ConfigValueFactory.fromMap(shared));
  }

  public Kind kind() {
    return kind;
  }

  public String url() {
    return url;
  }

  public String user() {
    return user;
  }

  public String password() {
    return password;
  }

  public int poolSize() {
    return poolSize;
  }

  public Duration connectionTimeout() {
    return connectionTimeout;
  }

  /** How long start-up waits for the store to answer before the node gives up. */
  public Duration startupWait() {
    return startupWait;
  }

  /** For logs and errors: never contains the password. */
  public String description() {
    return description;
  }

  @Override
  public String toString() {
    return description;
  }
}
