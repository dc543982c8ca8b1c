package dev.pmmha.persistence;

import com.typesafe.config.ConfigFactory;
import dev.pmmha.persistence.schema.Schema;
import dev.pmmha.testkit.PostgresServer;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/** Stores for the persistence tests: settings for a URL, and fresh stores of each kind with the schema applied. */
public final class TestStores {

  private static final AtomicInteger H2_STORES = new AtomicInteger();

  private TestStores() {}

  /** The store kinds the parameterized store tests run on. */
  public static Stream<String> kinds() {
    return Stream.of("postgres", "h2");
  }

  /** A fresh, empty store with the schema applied: a new database on {@code pg}, or a new in-memory H2. */
  public static StoreSettings fresh(String kind, PostgresServer pg) {
    StoreSettings s = kind.equals("postgres")
        ? settings(pg.createDatabase(), pg.user(), pg.password())
        : settings("jdbc:h2:mem:store" + H2_STORES.incrementAndGet() + ";DB_CLOSE_DELAY=-1", "sa", "");
    Schema.ensure(s);
    return s;
  }

  public static StoreSettings settings(String url, String user, String password) {
    return StoreSettings.create(ConfigFactory.parseString(
            "pmm-ha.store { url = \"" + url + "\", username = \"" + user + "\", password = \"" + password
                + "\", startup-wait = 3s }")
        .withFallback(ConfigFactory.defaultReference()).resolve());
  }
}
