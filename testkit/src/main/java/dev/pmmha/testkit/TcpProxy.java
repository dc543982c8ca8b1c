package dev.pmmha.testkit;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A TCP proxy on loopback that a test can cut and heal: one node's link to a server (its database) broken while
 * the server and the other nodes' links stay up. Cut: every connection through it is closed and new ones are
 * refused (the port is closed); freeze: nothing passes any more and nothing is closed, as when a firewall drops
 * the packets (a request then hangs until a timeout); heal: it listens and forwards again on the same port.
 */
public final class TcpProxy implements AutoCloseable {

  private final int port;
  private final InetSocketAddress target;
  private final List<Socket> open = new CopyOnWriteArrayList<>();
  private volatile ServerSocket server;
  private volatile boolean frozen;

  public TcpProxy(String targetHost, int targetPort) {
    this.port = PostgresServer.freePort();
    this.target = new InetSocketAddress(targetHost, targetPort);
    heal();
  }

  public int port() {
    return port;
  }

  /** Nothing passes in either direction, and nothing is closed: connections hang (until {@link #heal}). */
  public void freeze() {
    frozen = true;
  }

  /** Listens and forwards again (after {@link #cut} or {@link #freeze}); connections frozen in between are closed. */
  public synchronized void heal() {
    if (frozen) {
      frozen = false;
      open.forEach(TcpProxy::closeQuietly);
      open.clear();
    }
    if (server != null) {
      return;
    }
    try {
      ServerSocket s = new ServerSocket();
      s.setReuseAddress(true);
      s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
      server = s;
      Thread t = new Thread(() -> accept(s), "tcp-proxy-" + port);
      t.setDaemon(true);
      t.start();
    } catch (IOException e) {
      throw new IllegalStateException("cannot listen on " + port + ": " + e.getMessage(), e);
    }
  }

  /** Closes every connection through the proxy and refuses new ones until {@link #heal}. */
  public synchronized void cut() {
    ServerSocket s = server;
    server = null;
    closeQuietly(s);
    open.forEach(TcpProxy::closeQuietly);
    open.clear();
  }

  @Override
  public void close() {
    cut();
  }

  private void accept(ServerSocket s) {
    while (!s.isClosed()) {
      Socket client = null;
      try {
        client = s.accept();
        if (frozen) {
          open.add(client); // accepted, then silence
          continue;
        }
        Socket upstream = new Socket();
        upstream.connect(target, 5_000);
        if (!register(s, client, upstream)) {
          closeQuietly(upstream);
          closeQuietly(client);
          continue;
        }
        pump(client, upstream);
        pump(upstream, client);
      } catch (IOException e) {
        closeQuietly(client); // closed by cut(), or the target refused: the client sees its connection closed
      }
    }
  }

  /**
   * Adds a connection accepted on {@code s} to those {@link #cut} closes, unless a cut came since it was accepted:
   * then it must not live on (false).
   */
  private synchronized boolean register(ServerSocket s, Socket client, Socket upstream) {
    if (server != s) {
      return false;
    }
    open.add(client);
    open.add(upstream);
    return true;
  }

  private void pump(Socket from, Socket to) {
    Thread t = new Thread(() -> {
      byte[] buf = new byte[16 * 1024];
      try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
        for (int n; (n = in.read(buf)) >= 0; ) {
          if (!frozen) { // frozen: what comes in is dropped
            out.write(buf, 0, n);
            out.flush();
          }
        }
      } catch (IOException e) {
        // either side closed
      } finally {
        closeQuietly(from);
        closeQuietly(to);
        open.remove(from);
        open.remove(to);
      }
    }, "tcp-proxy-pump-" + port);
    t.setDaemon(true);
    t.start();
  }

  private static void closeQuietly(java.io.Closeable c) {
    if (c == null) {
      return;
    }
    try {
      c.close();
    } catch (IOException e) {
      // closing anyway
    }
  }
}
