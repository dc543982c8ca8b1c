package dev.pmmha.runtime.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The identity check on certificates made by deploy/tls/make-certs.sh (per-node and --shared-subject) and a few
 * a PKI may issue; the chain to the CA is the JDK trust manager's job and is covered by TlsClusterIT.
 */
class PeerIdentityTest {

  static X509Certificate cert(String name) throws Exception {
    try (InputStream in = PeerIdentityTest.class.getResourceAsStream("/tls/" + name + ".crt")) {
      return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
    }
  }

  @Test
  void aPerNodeCertificateIsAcceptedAtTheAddressItNames() throws Exception {
    assertEquals(Optional.empty(), PeerIdentity.checkServer(cert("node1"), cert("node2"), "10.0.0.2"));
    assertEquals(Optional.empty(), PeerIdentity.checkServer(cert("node1"), cert("node2"), "node2"));
    assertEquals(Optional.empty(), PeerIdentity.checkServer(cert("node1"), cert("node2"), "NODE2."));
  }

  @Test
  void aPerNodeCertificateIsRefusedAtAnotherAddress() throws Exception {
    Optional<String> why = PeerIdentity.checkServer(cert("node1"), cert("node2"), "10.0.0.3");
    assertTrue(why.isPresent());
    assertTrue(why.get().contains("names neither 10.0.0.3") && why.get().contains("[node1]"), why.get());
    // node1's certificate presented at node2's address: a stolen key does not impersonate another node
    assertTrue(PeerIdentity.checkServer(cert("node2"), cert("node1"), "10.0.0.2").isPresent());
    // names match whole, not by prefix
    assertTrue(PeerIdentity.checkServer(cert("node1"), cert("node2"), "10.0.0.22").isPresent());
    assertTrue(PeerIdentity.checkServer(cert("node1"), cert("node2"), "node22").isPresent());
  }

  @Test
  void theSharedSubjectIsAcceptedWhateverTheAddress() throws Exception {
    assertEquals(Optional.empty(), PeerIdentity.checkServer(cert("shared1"), cert("shared2"), "192.168.7.7"));
    assertEquals(Optional.empty(), PeerIdentity.checkClient(cert("shared1"), cert("shared2")));
    // a per-node certificate beside a shared-subject one: accepted by address only
    assertEquals(Optional.empty(), PeerIdentity.checkServer(cert("shared1"), cert("node2"), "10.0.0.2"));
    assertTrue(PeerIdentity.checkServer(cert("shared1"), cert("node2"), "10.0.0.9").isPresent());
  }

  @Test
  void wildcardAndIpv6SansMatch() throws Exception {
    X509Certificate w = cert("wildcard");
    assertEquals(Optional.empty(), PeerIdentity.checkServer(cert("node1"), w, "pmm-ha-0.pmm-ha.pmm.svc"));
    assertEquals(Optional.empty(), PeerIdentity.checkServer(cert("node1"), w, "[fd00:0:0:0:0:0:0:1]"));
    assertTrue(PeerIdentity.checkServer(cert("node1"), w, "a.b.pmm-ha.pmm.svc").isPresent(), "one label only");
    assertTrue(PeerIdentity.checkServer(cert("node1"), w, "pmm-ha.pmm.svc").isPresent());
  }

  @Test
  void aConnectingNodeMustPresentANodeCertificate() throws Exception {
    assertEquals(Optional.empty(), PeerIdentity.checkClient(cert("node1"), cert("node2")));
    assertEquals(Optional.empty(), PeerIdentity.checkClient(cert("node1"), cert("wildcard")));
    Optional<String> noSan = PeerIdentity.checkClient(cert("node1"), cert("nosan"));
    assertTrue(noSan.isPresent() && noSan.get().contains("no IP or DNS subject alternative name"), noSan.toString());
    Optional<String> server = PeerIdentity.checkClient(cert("node1"), cert("serveronly"));
    assertTrue(server.isPresent() && server.get().contains("not for client authentication"), server.toString());
  }

  @Test
  void describeNamesSubjectSansAndIssuer() throws Exception {
    assertEquals(List.of("DNS:node2", "IP:10.0.0.2"), PeerIdentity.addressNames(cert("node2")));
    assertEquals("subject \"CN=node2\", SANs [DNS:node2, IP:10.0.0.2], issuer \"CN=pmm-ha CA\"",
        PeerIdentity.describe(cert("node2")));
  }
}
