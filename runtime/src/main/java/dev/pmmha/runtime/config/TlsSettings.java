package dev.pmmha.runtime.config;

import com.typesafe.config.Config;
import dev.pmmha.persistence.SettingsException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.Collection;
import java.security.cert.X509Certificate;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import org.apache.pekko.pki.pem.DERPrivateKeyLoader;
import org.apache.pekko.pki.pem.PEMDecoder;

/**
 * {@code pmm-ha.tls}: PEM certificate, key and CA ({@code PMM_HA_TLS_CERT}, {@code PMM_HA_TLS_KEY},
 * {@code PMM_HA_TLS_CA}). With all three, the cluster transport runs TLS with mutual authentication and the API
 * also listens with HTTPS; with none, both stay plain (a warning is logged). The files are read at start, so a
 * wrong path or a broken file is a one-line configuration error, not a failed handshake later.
 */
public record TlsSettings(Path cert, Path key, Path ca, int httpsPort) {

  public static TlsSettings create(Config root) {
    Config c = root.getConfig("pmm-ha.tls");
    String cert = c.getString("cert").trim();
    String key = c.getString("key").trim();
    String ca = c.getString("ca").trim();
    String portText = c.getString("https-port").trim();
    int port = dev.pmmha.persistence.HostPort.parsePort(portText, "PMM_HA_HTTPS_PORT", portText);
    if (cert.isEmpty() && key.isEmpty() && ca.isEmpty()) {
      return new TlsSettings(null, null, null, port);
    }
    for (String[] v : new String[][] {{"PMM_HA_TLS_CERT", cert}, {"PMM_HA_TLS_KEY", key}, {"PMM_HA_TLS_CA", ca}}) {
      if (v[1].isEmpty()) {
        throw new SettingsException(v[0], "", "a PEM file: TLS needs PMM_HA_TLS_CERT, PMM_HA_TLS_KEY and PMM_HA_TLS_CA together");
      }
      if (!Files.isReadable(Path.of(v[1]))) {
        throw new SettingsException(v[0], v[1], "a readable PEM file");
      }
    }
    TlsSettings s = new TlsSettings(Path.of(cert), Path.of(key), Path.of(ca), port);
    s.sslContext(); // fail at start on a broken file
    return s;
  }

  public boolean enabled() {
    return cert != null;
  }

  /** The server context for HTTPS: this node's key and certificate chain, trusting PMM_HA_TLS_CA. */
  public SSLContext sslContext() {
    try {
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(keyManagers(), new TrustManager[] {trustManager()}, null);
      return ctx;
    } catch (GeneralSecurityException e) {
      throw new SettingsException("PMM_HA_TLS_CERT", cert.toString(), "a usable certificate: " + e.getMessage());
    }
  }

  /** This node's own certificate (the first of PMM_HA_TLS_CERT). */
  public X509Certificate ownCertificate() {
    return (X509Certificate) certificates(cert, "PMM_HA_TLS_CERT").iterator().next();
  }

  /** This node's key and certificate chain. */
  public KeyManager[] keyManagers() {
    Collection<? extends Certificate> chain = certificates(cert, "PMM_HA_TLS_CERT");
    PrivateKey pk;
    try {
      pk = DERPrivateKeyLoader.load(PEMDecoder.decode(Files.readString(key, StandardCharsets.US_ASCII)));
    } catch (IOException | RuntimeException e) {
      throw new SettingsException("PMM_HA_TLS_KEY", key.toString(), "a PEM private key (PKCS#8 or PKCS#1 RSA): " + e.getMessage());
    }
    try {
      KeyStore ks = KeyStore.getInstance("PKCS12");
      ks.load(null, null);
      ks.setKeyEntry("pmm-ha", pk, new char[0], chain.toArray(Certificate[]::new));
      KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      kmf.init(ks, new char[0]);
      return kmf.getKeyManagers();
    } catch (GeneralSecurityException | IOException e) {
      throw new SettingsException("PMM_HA_TLS_CERT", cert.toString(),
          "a certificate that matches PMM_HA_TLS_KEY: " + e.getMessage());
    }
  }

  /** The JDK's PKIX trust manager over the certificates of PMM_HA_TLS_CA. */
  public X509ExtendedTrustManager trustManager() {
    try {
      KeyStore ts = KeyStore.getInstance("PKCS12");
      ts.load(null, null);
      int i = 0;
      for (Certificate c : certificates(ca, "PMM_HA_TLS_CA")) {
        ts.setCertificateEntry("ca-" + i++, c);
      }
      TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(ts);
      for (TrustManager tm : tmf.getTrustManagers()) {
        if (tm instanceof X509ExtendedTrustManager x) {
          return x;
        }
      }
      throw new SettingsException("PMM_HA_TLS_CA", ca.toString(), "CA certificates the JDK can trust");
    } catch (GeneralSecurityException | IOException e) {
      throw new SettingsException("PMM_HA_TLS_CA", ca.toString(), "CA certificates the JDK can trust: " + e.getMessage());
    }
  }

  private static Collection<? extends Certificate> certificates(Path file, String variable) {
    try {
      Collection<? extends Certificate> certs = CertificateFactory.getInstance("X.509")
          .generateCertificates(new ByteArrayInputStream(Files.readAllBytes(file)));
      if (certs.isEmpty()) {
        throw new SettingsException(variable, file.toString(), "a PEM file with at least one certificate");
      }
      return certs;
    } catch (IOException | GeneralSecurityException e) {
      throw new SettingsException(variable, file.toString(), "a PEM certificate file: " + e.getMessage());
    }
  }
}
