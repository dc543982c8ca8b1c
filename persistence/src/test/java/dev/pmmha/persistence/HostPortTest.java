package dev.pmmha.persistence;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

class HostPortTest {

  private static String error(String text) {
    return assertThrows(SettingsException.class, () -> HostPort.parseList(text, 5432, "PMM_POSTGRES_ADDR"))
        .getMessage();
  }

  @Test
  void aListKeepsItsOrderAndFillsInTheDefaultPort() {
    assertEquals(List.of(new HostPort("pg-a", 5432), new HostPort("pg-b", 6432), new HostPort("::1", 5433)),
        HostPort.parseList("pg-a, pg-b:6432,[::1]:5433", 5432, "PMM_POSTGRES_ADDR"));
    assertEquals(List.of(new HostPort("pg", 5432)), HostPort.parseList("pg", 5432, "PMM_POSTGRES_ADDR"));
  }

  @Test
  void anEmptyHostIsAOneLineErrorNamingTheVariable() {
    assertEquals("PMM_POSTGRES_ADDR=\"pg-a:5432,,pg-b:5432\" is not valid: expected a list host1:port,host2:port "
        + "without an empty host", error("pg-a:5432,,pg-b:5432"));
    assertEquals("PMM_POSTGRES_ADDR=\"pg-a:5432,\" is not valid: expected a list host1:port,host2:port "
        + "without an empty host", error("pg-a:5432,"));
    assertEquals("PMM_POSTGRES_ADDR=\":5432\" is not valid: expected a host name or address before the port",
        error("pg-a:5432,:5432"));
    assertEquals("PMM_POSTGRES_ADDR=\" \" is not valid: expected host or host:port, or a list host1:port,host2:port",
        error(" "));
  }

  @Test
  void aPortOutOfRangeNamesTheEntry() {
    assertEquals("PMM_POSTGRES_ADDR=\"pg-b:65536\" is not valid: expected a port from 1 to 65535",
        error("pg-a:5432,pg-b:65536"));
    assertEquals("PMM_POSTGRES_ADDR=\"pg-b:0\" is not valid: expected a port from 1 to 65535", error("pg-a,pg-b:0"));
    assertEquals("PMM_POSTGRES_ADDR=\"pg-b:x\" is not valid: expected a port from 1 to 65535", error("pg-a,pg-b:x"));
  }

  @Test
  void aDuplicateIsRefusedWhateverItsCaseOrDefaultPort() {
    assertEquals("PMM_POSTGRES_ADDR=\"pg-a:5432,PG-A\" is not valid: expected each host:port once (PG-A:5432 is "
        + "listed twice)", error("pg-a:5432,PG-A"));
    // the same host on two ports is two servers
    assertEquals(2, HostPort.parseList("pg:5432,pg:5433", 5432, "PMM_POSTGRES_ADDR").size());
  }
}
