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
  void thePluginSharesOneSmallPool() {
    Config plugin = StoreSettings.create(config("pmm-ha.store.postgres-addr = \"pg\"")).pluginConfig();
    Config db = plugin.getConfig("pekko-persistence-jdbc.shared-databases.pmm-ha.db");
    assertEquals(4, db.getInt("maxConnections"));
    assertEquals(db.getInt("maxConnections"), db.getInt("numThreads"));
    assertEquals(3000, db.getLong("connectionTimeout"));
  }
}
