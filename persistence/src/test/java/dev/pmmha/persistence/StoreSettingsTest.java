package dev.pmmha.persistence;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import org.junit.jupiter.api.Test;

class StoreSettingsTest {

  private static Config config(String hocon) {
    return ConfigFactory.parseString(hocon).withFallback(ConfigFactory.defaultReference()).resolve();
  }

  @Test
  void postgresAddressBecomesAJdbcUrlWithPmmDefaults() {
    StoreSettings s = StoreSettings.create(config("pmm-ha.store.postgres-addr = \"db.example:6432\""));
    assertEquals(StoreSettings.Kind.POSTGRES, s.kind());
    assertTrue(s.url().startsWith("jdbc:postgresql://db.example:6432/pmm-managed?"), s.url());
    assertEquals("pmm-managed", s.user());
    assertEquals(4, s.poolSize());
    assertFalse(s.description().contains("pmm-managed:"), "no password in descriptions");
  }

  @Test
  void postgresPortDefaultsTo5432() {
    StoreSettings s = StoreSettings.create(config("pmm-ha.store.postgres-addr = \"pg\""));
    assertTrue(s.url().startsWith("jdbc:postgresql://pg:5432/"), s.url());
  }

  @Test
  void noAddressMeansTheEmbeddedStore() {
    StoreSettings s = StoreSettings.create(config("pmm-ha.store.embedded-dir = \"/tmp/x\""));
    assertEquals(StoreSettings.Kind.H2, s.kind());
    assertTrue(s.url().startsWith("jdbc:h2:file:/tmp/x/pmm-ha"), s.url());
  }

  @Test
  void explicitUrlWinsAndItsPasswordIsRedacted() {
    StoreSettings s = StoreSettings.create(config(
        "pmm-ha.store { url = \"jdbc:h2:tcp://127.0.0.1:9092/pmm-ha;PASSWORD=secret\", postgres-addr = \"pg:5432\" }"));
    assertEquals(StoreSettings.Kind.H2, s.kind());
    assertFalse(s.description().contains("secret"), s.description());
  }

  @Test
  void badValuesNameTheVariable() {
    var e1 = assertThrows(SettingsException.class,
        () -> StoreSettings.create(config("pmm-ha.store.postgres-addr = \"pg:99999\"")));
    assertEquals("PMM_POSTGRES_ADDR=\"pg:99999\" is not valid: expected a port from 1 to 65535", e1.getMessage());
    var e2 = assertThrows(SettingsException.class,
        () -> StoreSettings.create(config("pmm-ha.store.url = \"mysql://x\"")));
    assertTrue(e2.getMessage().startsWith("PMM_HA_STORE_URL=\"mysql://x\""), e2.getMessage());
    var e3 = assertThrows(SettingsException.class,
        () -> StoreSettings.create(config("pmm-ha.store { postgres-addr = \"pg\", ssl-mode = \"sometimes\" }")));
    assertTrue(e3.getMessage().startsWith("PMM_POSTGRES_SSL_MODE=\"sometimes\""), e3.getMessage());
  }

  @Test
  void severalPostgresHostsMakeAMultiHostUrlThatConnectsOnlyToThePrimary() {
    StoreSettings s = StoreSettings.create(config("pmm-ha.store.postgres-addr = \"pg-a:5432, pg-b\""));
    assertTrue(s.url().startsWith("jdbc:postgresql://pg-a:5432,pg-b:5432/pmm-managed?"), s.url());
    assertTrue(s.url().contains("&targetServerType=primary&"), s.url());
    assertEquals("PostgreSQL pg-a:5432,pg-b:5432/pmm-managed", s.description());
    // one host as well: a standby behind that address is refused at connect time, not at the first write
    assertTrue(StoreSettings.create(config("pmm-ha.store.postgres-addr = \"pg\"")).url()
        .contains("targetServerType=primary"));
  }

  @Test
  void badHostListsAreOneLineErrorsNamingTheVariable() {
    for (String bad : new String[] {"pg-a:5432,,pg-b", "pg-a:5432,", ",pg-b", "pg-a,:5432", "pg-a,pg-b:70000",
        "pg-a:5432,pg-a:5432"}) {
      var e = assertThrows(SettingsException.class,
          () -> StoreSettings.create(config("pmm-ha.store.postgres-addr = \"" + bad + "\"")), bad);
      assertTrue(e.getMessage().startsWith("PMM_POSTGRES_ADDR=\""), e.getMessage());
      assertEquals(1, e.getMessage().lines().count(), e.getMessage());
    }
  }

  @Test
  void aMultiHostStoreUrlGetsTargetServerTypePrimary() {
    StoreSettings s = StoreSettings.create(config(
        "pmm-ha.store.url = \"jdbc:postgresql://127.0.0.1:5432,127.0.0.1:5433/pmm?user=pmm\""));
    assertTrue(s.url().startsWith(
        "jdbc:postgresql://127.0.0.1:5432,127.0.0.1:5433/pmm?user=pmm&targetServerType=primary&options="), s.url());
    String kept = "jdbc:postgresql://a,b/pmm?targetServerType=primary";
    assertTrue(StoreSettings.create(config("pmm-ha.store.url = \"" + kept + "\"")).url().startsWith(kept + "&"));
    String single = "jdbc:postgresql://a:5432/pmm";
    assertTrue(StoreSettings.create(config("pmm-ha.store.url = \"" + single + "\"")).url().startsWith(single + "?options="));
  }

  @Test
  void aMultiHostStoreUrlWithABadListOrAnotherTargetIsRefused() {
    var dup = assertThrows(SettingsException.class, () -> StoreSettings.create(config(
        "pmm-ha.store.url = \"jdbc:postgresql://a:5432,a:5432/pmm?password=secret\"")));
    assertTrue(dup.getMessage().startsWith("PMM_HA_STORE_URL=\"jdbc:postgresql://a:5432,a:5432/pmm?password=***\""),
        dup.getMessage());
    assertTrue(dup.getMessage().contains("a:5432 is listed twice"), dup.getMessage());
    var any = assertThrows(SettingsException.class, () -> StoreSettings.create(config(
        "pmm-ha.store.url = \"jdbc:postgresql://a,b/pmm?targetServerType=any\"")));
    assertTrue(any.getMessage().contains("expected targetServerType=primary"), any.getMessage());
    var empty = assertThrows(SettingsException.class, () -> StoreSettings.create(config(
        "pmm-ha.store.url = \"jdbc:postgresql://a,,b/pmm\"")));
    assertTrue(empty.getMessage().contains("without an empty host"), empty.getMessage());
  }

  @Test
  void thePluginSharesOneSmallPool() {
    Config plugin = StoreSettings.create(config("pmm-ha.store.postgres-addr = \"pg\"")).pluginConfig();
    Config db = plugin.getConfig("pekko-persistence-jdbc.shared-databases.pmm-ha.db");
    assertEquals(4, db.getInt("maxConnections"));
    assertEquals(db.getInt("maxConnections"), db.getInt("numThreads"));
    assertEquals(3000, db.getLong("connectionTimeout"));
  }
}
