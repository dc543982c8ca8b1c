package dev.pmmha.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ServerSocket;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Ports for one cluster are asked for before any is bound; the kernel may offer a port again as soon as its
 * probe socket closed, so freePort never repeats itself (docs/decisions/test-free-ports.md).
 */
class FreePortTest {

  @Test
  void portsHandedOutInARowAreDistinctAndBindable() throws Exception {
    Set<Integer> seen = new HashSet<>();
    for (int i = 0; i < 500; i++) {
      seen.add(PostgresServer.freePort());
    }
    assertEquals(500, seen.size());
    int last = PostgresServer.freePort();
    try (ServerSocket s = new ServerSocket(last)) {
      assertTrue(s.isBound());
    }
  }
}
