package dev.pmmha.runtime.tls;

import dev.pmmha.runtime.config.TlsSettings;
import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509ExtendedTrustManager;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.remote.artery.tcp.SSLEngineProvider;
import org.apache.pekko.remote.artery.tcp.SslTransportException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Option;

/**
 * The cluster transport's TLS (Artery {@code tls-tcp}): mutual TLS 1.3 with the PEM files of {@code pmm-ha.tls}.
 * A peer's chain must lead to PMM_HA_TLS_CA, then {@link PeerIdentity} decides whether it names a node of this
 * cluster. Each failure is logged once per peer and cause, naming what the peer presented and what was expected,
 * and handed to {@code problems} (the readiness reason of a node that cannot join). The files are read again
 * every five minutes, as Pekko's rotating-keys provider does, so renewed certificates are picked up.
 */
public final class NodeTlsProvider implements SSLEngineProvider {

  private static final Logger log = LoggerFactory.getLogger(NodeTlsProvider.class);
  private static final Duration RELOAD = Duration.ofMinutes(5);
  private static final String PROTOCOL = "TLSv1.3";

  private record Loaded(SSLContext context, X509Certificate own, long loadedAt) {}

  private final TlsSettings tls;
  private final Consumer<String> problems;
  private final Set<String> logged = ConcurrentHashMap.newKeySet();
  private volatile Loaded loaded;

  public NodeTlsProvider(TlsSettings tls, Consumer<String> problems) {
    this.tls = tls;
    this.problems = problems;
    this.loaded = load();
  }

  /** For an ActorSystem configured with this class name but no setup: failures are only logged. */
  public NodeTlsProvider(ActorSystem system) {
    this(TlsSettings.create(system.settings().config()), p -> {});
  }

  /**
   * Why peers dialling {@code advertise} may refuse this node's own certificate, if they might: it names neither
   * that address, so only peers sharing its subject accept it.
   */
  public static Optional<String> ownCertificateProblem(TlsSettings tls, String advertise) {
    X509Certificate own = tls.ownCertificate();
    if (PeerIdentity.sanMatches(own, advertise)) {
      return Optional.empty();
    }
    return Optional.of("this node's certificate (PMM_HA_TLS_CERT, " + PeerIdentity.describe(own) + ") does not "
        + "name PMM_HA_ADVERTISE_ADDRESS=" + advertise + ": peers accept it only if their certificates share its "
        + "subject " + PeerIdentity.subjectNames(own));
  }

  @Override
  public SSLEngine createServerSSLEngine(String hostname, int port) {
    SSLEngine e = context().context().createSSLEngine(hostname, port);
    e.setUseClientMode(false);
    e.setNeedClientAuth(true);
    e.setEnabledProtocols(new String[] {PROTOCOL});
    return e;
  }

  @Override
  public SSLEngine createClientSSLEngine(String hostname, int port) {
    SSLEngine e = context().context().createSSLEngine(hostname, port);
    e.setUseClientMode(true);
    e.setEnabledProtocols(new String[] {PROTOCOL});
    return e;
  }

  /** This node dialled {@code hostname}: the server's certificate must name that address (or share our subject). */
  @Override
  public Option<Throwable> verifyClientSession(String hostname, SSLSession session) {
    return verify(session, "peer " + hostname, peer -> PeerIdentity.checkServer(context().own(), peer, hostname),
        "a certificate naming " + hostname + " or sharing this node's subject");
  }

  /** A node dialled this one: its certificate must be a node certificate (see {@link PeerIdentity}). */
  @Override
  public Option<Throwable> verifyServerSession(String hostname, SSLSession session) {
    return verify(session, "a node connecting to this one", peer -> PeerIdentity.checkClient(context().own(), peer),
        "a node certificate (an IP or DNS subject alternative name, or this node's subject)");
  }

  private Option<Throwable> verify(SSLSession session, String who,
      java.util.function.Function<X509Certificate, Optional<String>> check, String expected) {
    X509Certificate peer;
    try {
      peer = (X509Certificate) session.getPeerCertificates()[0];
    } catch (SSLPeerUnverifiedException | ClassCastException | ArrayIndexOutOfBoundsException e) {
      return Option.apply(refused(who, "no X.509 certificate", expected, "no certificate"));
    }
    Optional<String> problem = check.apply(peer);
    return problem.isEmpty() ? Option.empty()
        : Option.apply(refused(who, PeerIdentity.describe(peer), expected, problem.get()));
  }

  private SslTransportException refused(String who, String presented, String expected, String cause) {
    String line = "TLS with " + who + " refused: " + cause + "; it presented " + presented + ", expected " + expected;
    if (logged.size() > 1024) {
      logged.clear(); // a caller cycling through certificates must not grow it without bound
    }
    if (logged.add(who + '|' + presented + '|' + cause)) {
      log.warn("{}", line);
    }
    problems.accept(line);
    return new SslTransportException(line, null);
  }

  private Loaded context() {
    Loaded l = loaded;
    if (System.nanoTime() - l.loadedAt() > RELOAD.toNanos()) {
      try {
        l = load();
        loaded = l;
      } catch (RuntimeException e) {
        log.warn("Could not reload the TLS files, keeping the loaded ones: {}", e.getMessage());
        l = new Loaded(l.context(), l.own(), System.nanoTime());
        loaded = l;
      }
    }
    return l;
  }

  private Loaded load() {
    try {
      SSLContext ctx = SSLContext.getInstance(PROTOCOL);
      ctx.init(tls.keyManagers(), new TrustManager[] {new ReportingTrustManager(tls.trustManager())}, null);
      return new Loaded(ctx, tls.ownCertificate(), System.nanoTime());
    } catch (GeneralSecurityException e) {
      throw new SslTransportException("cannot build the cluster TLS context: " + e.getMessage(), e);
    }
  }

  /** The JDK's chain check, with a failure reported in pmm-ha's words before the handshake is aborted. */
  private final class ReportingTrustManager extends X509ExtendedTrustManager {
    private final X509ExtendedTrustManager delegate;

    ReportingTrustManager(X509ExtendedTrustManager delegate) {
      this.delegate = delegate;
    }

    private String caNames() {
      return java.util.Arrays.stream(delegate.getAcceptedIssuers())
          .map(c -> "\"" + c.getSubjectX500Principal().getName() + "\"").toList().toString();
    }

    private CertificateException report(String who, X509Certificate[] chain, CertificateException e) {
      if (chain == null || chain.length == 0) {
        refused(who, "no certificate", "a certificate issued by PMM_HA_TLS_CA " + caNames(), "it sent no certificate");
        return e;
      }
      Throwable root = e;
      while (root.getCause() != null) {
        root = root.getCause();
      }
      var issuer = chain[chain.length - 1].getIssuerX500Principal();
      boolean ourCa = java.util.Arrays.stream(delegate.getAcceptedIssuers())
          .anyMatch(ca -> ca.getSubjectX500Principal().equals(issuer));
      // a CA of the same name may still be another CA (another key), or the certificate may have expired
      String cause = ourCa ? "its certificate names this cluster's CA as issuer but does not verify against "
          + "PMM_HA_TLS_CA (" + root.getMessage() + ")"
          : "its certificate is not signed by this cluster's CA (" + root.getMessage() + ")";
      refused(who, PeerIdentity.describe(chain[0]), "a certificate issued by PMM_HA_TLS_CA " + caNames(), cause);
      return e;
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      try {
        delegate.checkServerTrusted(chain, authType, engine);
      } catch (CertificateException e) {
        throw report("peer " + engine.getPeerHost(), chain, e);
      }
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      try {
        delegate.checkClientTrusted(chain, authType, engine);
      } catch (CertificateException e) {
        throw report("a node connecting to this one", chain, e);
      }
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      delegate.checkServerTrusted(chain, authType, socket);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      delegate.checkClientTrusted(chain, authType, socket);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      delegate.checkServerTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      delegate.checkClientTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return delegate.getAcceptedIssuers();
    }
  }
}
