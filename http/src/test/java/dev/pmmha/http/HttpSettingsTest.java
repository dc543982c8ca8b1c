package dev.pmmha.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import org.junit.jupiter.api.Test;

class HttpSettingsTest {

  static HttpSettings with(String probePort) {
    return HttpSettings.create(ConfigFactory.parseString("pmm-ha.http.probe-port = \"" + probePort + "\"")
        .withFallback(ConfigFactory.load()));
  }

  @Test
  void theProbePortIs8079UnlessTurnedOff() {
    HttpSettings byDefault = HttpSettings.create(ConfigFactory.load());
    assertTrue(byDefault.probeEnabled());
    assertEquals(8079, byDefault.probePort());
    for (String off : new String[] {"", "0", "off", "OFF"}) {
      assertFalse(with(off).probeEnabled(), off);
    }
    HttpSettings s = with("9079");
    assertTrue(s.probeEnabled());
    assertEquals(9079, s.probePort());
  }

  @Test
  void aBadProbePortIsOneClearLine() {
    assertEquals("PMM_HA_PROBE_PORT=\"x\" is not valid: expected a port from 1 to 65535, or empty (or off) for no "
        + "probe port", assertThrows(IllegalArgumentException.class, () -> with("x")).getMessage());
    assertTrue(assertThrows(IllegalArgumentException.class, () -> with("70000")).getMessage()
        .startsWith("PMM_HA_PROBE_PORT=\"70000\" is not valid"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> with("8080")).getMessage()
        .contains("other than the API port (PMM_HA_HTTP_PORT 8080)"));
  }
}
