package dev.pmmha.http;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayDeque;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCode;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The probe port ({@code PMM_HA_PROBE_PORT}): PMM's leader health checks and nothing else, on a port of their
 * own, the way Patroni's REST API sits beside PostgreSQL's port ({@code server ... check port N} in HAProxy).
 *
 * <p>Why it exists: on the API port every check crosses Pekko's TCP actors and an HTTP stream (a selector wake-up,
 * three or four mailbox hops and thread hand-offs per request); that, not the answer, is what a check costs
 * there (bench/results/health.md). This listener answers from one thread with plain NIO: read, a short parse of
 * the request head, one write of a response rendered once per leadership state. The answers are the API route's
 * own ({@link HaRoutes#leaderCheckAnsweredNow()}, the same JSON, status, {@code X-PMM-HA-Epoch} and request
 * metrics); the API port keeps serving them too, so the PMM guide's HAProxy config needs nothing new.
 *
 * <p>Hostile input gets what the API port gives it: a request head of at most 8 KiB (431), a body of at most
 * 64 KiB that is read and dropped (413), no chunked bodies (400, then close), at most 1,024 connections, and an
 * idle connection closed after 30 s. Keep-alive and pipelined requests are served in order.
 */
public final class ProbeServer implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(ProbeServer.class);

  static final int MAX_HEAD = 8 * 1024;
  static final int MAX_BODY = 64 * 1024;
  static final int MAX_CONNECTIONS = 1024;

  private final HaRoutes routes;
  private final Observability observability;
  private final long timeoutMs;
  private final long idleMs;
  private final ServerSocketChannel server;
  private final Selector selector;
  private final Thread thread;
  private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
  private volatile boolean closed;
  private int connections;

  private ProbeServer(HaRoutes routes, long timeoutMs, long idleMs, ServerSocketChannel server, Selector selector) {
    this.routes = routes;
    this.observability = routes.observability();
    this.timeoutMs = timeoutMs;
    this.idleMs = idleMs;
    this.server = server;
    this.selector = selector;
    this.thread = new Thread(this::loop, "pmm-ha-probe");
    this.thread.setDaemon(true);
  }

  /**
   * Listens on {@code host:port} (0: any free port). {@code timeoutMs}: how long a stepping-down leader's 503 may
   * wait for the hand-over; {@code idleMs}: when an idle connection is closed.
   */
  public static ProbeServer start(String host, int port, HaRoutes routes, long timeoutMs, long idleMs)
      throws IOException {
    ServerSocketChannel server = ServerSocketChannel.open();
    Selector selector = Selector.open();
    try {
      server.setOption(StandardSocketOptions.SO_REUSEADDR, true);
      server.bind(new InetSocketAddress(host, port), 1024);
      server.configureBlocking(false);
      server.register(selector, SelectionKey.OP_ACCEPT);
    } catch (IOException e) {
      server.close();
      selector.close();
      throw e;
    }
    ProbeServer p = new ProbeServer(routes, timeoutMs, idleMs, server, selector);
    p.thread.start();
    return p;
  }

  public InetSocketAddress localAddress() {
    try {
      return (InetSocketAddress) server.getLocalAddress();
    } catch (IOException e) {
      throw new IllegalStateException("probe port closed", e);
    }
  }

  /** Stops listening and closes every connection; returns once the thread has ended. */
  @Override
  public void close() {
    closed = true;
    selector.wakeup();
    try {
      thread.join(5_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  // --- the event loop (one thread) ---

  private void loop() {
    long lastSweep = System.nanoTime();
    try {
      while (!closed) {
        selector.select(1_000);
        Runnable task;
        while ((task = tasks.poll()) != null) {
          try {
            task.run();
          } catch (RuntimeException e) {
            log.warn("A held leader check could not be answered", e);
          }
        }
        for (SelectionKey key : selector.selectedKeys()) {
          try {
            if (!key.isValid()) {
              continue;
            }
            if (key.isAcceptable()) {
              accept();
            } else {
              Conn c = (Conn) key.attachment();
              if (key.isWritable()) {
                c.flush();
              }
              if (key.isValid() && key.isReadable()) {
                c.read();
              }
            }
          } catch (IOException | RuntimeException e) {
            if (key.attachment() instanceof Conn c) {
              c.close();
            }
            if (e instanceof RuntimeException) {
              log.warn("Probe connection closed after an error", e);
            }
          }
        }
        selector.selectedKeys().clear();
        long now = System.nanoTime();
        if (now - lastSweep > 1_000_000_000L) {
          lastSweep = now;
          for (SelectionKey key : selector.keys()) {
            if (key.attachment() instanceof Conn c
                && now - c.lastActive > (c.draining ? Math.min(idleMs, 2_000) : idleMs) * 1_000_000L) {
              c.close();
            }
          }
        }
      }
    } catch (IOException | RuntimeException e) {
      log.error("The probe port stopped: {}", e.toString());
    } finally {
      for (SelectionKey key : selector.keys()) {
        if (key.attachment() instanceof Conn c) {
          c.close();
        }
      }
      try {
        server.close();
        selector.close();
      } catch (IOException ignored) {
        // closing anyway
      }
    }
  }

  private void accept() throws IOException {
    SocketChannel ch;
    while ((ch = server.accept()) != null) {
      if (connections >= MAX_CONNECTIONS) {
        ch.close();
        continue;
      }
      ch.configureBlocking(false);
      ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
      Conn c = new Conn(ch);
      c.key = ch.register(selector, SelectionKey.OP_READ, c);
      connections++;
    }
  }

  /** One client connection: the bytes read and not yet parsed, and the answers not yet written, in order. */
  private final class Conn {
    final SocketChannel ch;
    SelectionKey key;
    final ByteBuffer in = ByteBuffer.allocate(MAX_HEAD); // write mode between reads
    final ArrayDeque<ByteBuffer> out = new ArrayDeque<>();
    long lastActive = System.nanoTime();
    /** Body bytes of the last request still to be read and dropped. */
    long skip;
    /** An answer is being waited for: later requests wait behind it (answers go out in request order). */
    boolean waiting;
    /** Close once everything queued is written. */
    boolean closeAfterWrite;
    boolean open = true;
    /** The request being answered is HTTP/1.0 (a kept-alive one is told so in its answer). */
    boolean http10;
    /** Answered with a close: output shut, input read and dropped until the client closes (or 2 s). */
    boolean draining;

    Conn(SocketChannel ch) {
      this.ch = ch;
    }

    void read() throws IOException {
      if (draining) {
        in.clear();
        if (ch.read(in) < 0) {
          close();
        }
        return;
      }
      int n = ch.read(in);
      if (n < 0) {
        close();
        return;
      }
      lastActive = System.nanoTime();
      parse();
    }

    /** Answers every complete request in {@code in}, in order, until one needs waiting for. */
    void parse() throws IOException {
      in.flip();
      try {
        while (open && !waiting && !closeAfterWrite) {
          if (skip > 0) {
            int k = (int) Math.min(skip, in.remaining());
            in.position(in.position() + k);
            skip -= k;
            if (skip > 0) {
              break;
            }
          }
          while (in.hasRemaining() && (in.get(in.position()) == '\r' || in.get(in.position()) == '\n')) {
            in.get(); // empty lines before a request line are ignored (RFC 9112 2.2), e.g. a CRLF after a body
          }
          int end = headEnd(in);
          if (end < 0) {
            if (in.remaining() >= MAX_HEAD) {
              answer(error(StatusCodes.REQUEST_HEADER_FIELDS_TOO_LARGE, 3,
                  "request head over " + MAX_HEAD + " bytes"), true);
            }
            break;
          }
          byte[] head = new byte[end - in.position()];
          in.get(head);
          in.position(in.position() + 4);
          handle(new String(head, StandardCharsets.ISO_8859_1));
        }
      } finally {
        in.compact();
      }
      flush();
    }

    private void handle(String head) {
      long start = System.nanoTime();
      String[] lines = head.split("\r\n", -1);
      String[] requestLine = lines[0].split(" ", -1);
      if (requestLine.length != 3 || !requestLine[2].startsWith("HTTP/1.")) {
        answer(error(StatusCodes.BAD_REQUEST, 3, "malformed request line"), true);
        return;
      }
      http10 = requestLine[2].equals("HTTP/1.0");
      boolean close = http10;
      long length = 0;
      for (int i = 1; i < lines.length; i++) {
        String line = lines[i];
        int colon = line.indexOf(':');
        if (colon <= 0) {
          answer(error(StatusCodes.BAD_REQUEST, 3, "malformed header line"), true);
          return;
        }
        String name = line.substring(0, colon).trim().toLowerCase(Locale.ROOT);
        String value = line.substring(colon + 1).trim();
        switch (name) {
          case "content-length" -> {
            try {
              length = Long.parseLong(value);
            } catch (NumberFormatException e) {
              length = -1;
            }
            if (length < 0) {
              answer(error(StatusCodes.BAD_REQUEST, 3, "invalid Content-Length"), true);
              return;
            }
          }
          case "transfer-encoding" -> {
            answer(error(StatusCodes.BAD_REQUEST, 3, "a leader check has no chunked body"), true);
            return;
          }
          case "connection" -> {
            String v = value.toLowerCase(Locale.ROOT);
            if (v.contains("close")) {
              close = true;
            } else if (v.contains("keep-alive")) {
              close = false;
            }
          }
          default -> { }
        }
      }
      if (length > MAX_BODY) {
        answer(error(StatusCodes.PAYLOAD_TOO_LARGE, 3, "request body over " + MAX_BODY + " bytes"), true);
        return;
      }
      skip = length;
      String method = requestLine[0];
      String path = pathOf(requestLine[1]);
      if (!HaRoutes.isLeaderCheck(method, path)) {
        String allowed = String.join(", ", java.util.stream.Stream.of("GET", "POST")
            .filter(m -> HaRoutes.isLeaderCheck(m, path)).toList());
        answer(!allowed.isEmpty()
            ? error(StatusCodes.METHOD_NOT_ALLOWED, 12, "method not allowed; use " + allowed)
            : error(StatusCodes.NOT_FOUND, 5,
                "no such endpoint on the probe port: " + path + " (it serves the leader health checks)"),
            close);
        return;
      }
      HttpResponse now = routes.leaderCheckAnsweredNow();
      if (now != null) {
        observability.requestServed(path, now.status().intValue(), System.nanoTime() - start);
        answer(rendered(now), close);
        return;
      }
      // a stepping-down leader: its 503 waits for the hand-over, as on the API port
      waiting = true;
      boolean closeAfter = close;
      routes.leaderCheckAnswerLater().toCompletableFuture()
          .completeOnTimeout(HaRoutes.NOT_LEADER, timeoutMs, TimeUnit.MILLISECONDS)
          .whenComplete((r, e) -> {
            tasks.add(() -> {
              if (!open) {
                return;
              }
              try {
                HttpResponse resp = r != null ? r : HaRoutes.NOT_LEADER;
                observability.requestServed(path, resp.status().intValue(), System.nanoTime() - start);
                waiting = false;
                answer(rendered(resp), closeAfter);
                parse();
              } catch (IOException | RuntimeException ex) {
                close();
              }
            });
            selector.wakeup();
          });
    }

    private void answer(byte[] response, boolean thenClose) {
      out.add(ByteBuffer.wrap(thenClose ? withHeader(response, "Connection: close")
          : http10 ? withHeader(response, "Connection: keep-alive") : response));
      if (thenClose) {
        closeAfterWrite = true;
      }
    }

    void flush() throws IOException {
      if (!open) {
        return;
      }
      while (!out.isEmpty()) {
        ByteBuffer b = out.peek();
        ch.write(b);
        if (b.hasRemaining()) {
          key.interestOps(SelectionKey.OP_WRITE); // stop reading until the client takes its answers
          return;
        }
        out.poll();
      }
      if (closeAfterWrite) {
        // a lingering close: a close with unread request bytes makes the kernel send a reset, which can
        // destroy the answer before the client read it; so send FIN, drop what still comes, close at EOF
        if (!draining) {
          draining = true;
          lastActive = System.nanoTime();
          ch.shutdownOutput();
          key.interestOps(SelectionKey.OP_READ);
        }
        return;
      }
      // while an answer is waited for, read nothing more: a full buffer would wake the loop for nothing
      key.interestOps(waiting ? 0 : SelectionKey.OP_READ);
    }

    void close() {
      if (!open) {
        return;
      }
      open = false;
      connections--;
      key.cancel();
      try {
        ch.close();
      } catch (IOException ignored) {
        // closed anyway
      }
    }
  }

  /** {@code response} with one more header line after its status line. */
  static byte[] withHeader(byte[] response, String line) {
    int eol = 0;
    while (response[eol] != '\n') {
      eol++;
    }
    byte[] add = (line + "\r\n").getBytes(StandardCharsets.ISO_8859_1);
    byte[] all = new byte[response.length + add.length];
    System.arraycopy(response, 0, all, 0, eol + 1);
    System.arraycopy(add, 0, all, eol + 1, add.length);
    System.arraycopy(response, eol + 1, all, eol + 1 + add.length, response.length - eol - 1);
    return all;
  }

  /** Index of the CRLFCRLF that ends a request head in {@code b} (read mode), or -1. */
  static int headEnd(ByteBuffer b) {
    for (int i = b.position(); i + 3 < b.limit(); i++) {
      if (b.get(i) == '\r' && b.get(i + 1) == '\n' && b.get(i + 2) == '\r' && b.get(i + 3) == '\n') {
        return i;
      }
    }
    return -1;
  }

  /** The path of a request target: origin form without its query, or the path of an absolute URI. */
  static String pathOf(String target) {
    String t = target;
    int scheme = t.indexOf("://");
    if (scheme > 0 && !t.startsWith("/")) {
      int slash = t.indexOf('/', scheme + 3);
      t = slash < 0 ? "/" : t.substring(slash);
    }
    int q = t.indexOf('?');
    return q < 0 ? t : t.substring(0, q);
  }

  // --- responses: rendered once per answer object, only the Date line is new each second ---

  /** RFC 9110's IMF-fixdate: {@code Sun, 06 Nov 1994 08:49:37 GMT}. */
  static final DateTimeFormatter HTTP_DATE = DateTimeFormatter.ofPattern("EEE, dd MMM yyyy HH:mm:ss 'GMT'", Locale.US);

  private HttpResponse lastResponse;
  private byte[] lastRest;
  private long dateSecond = -1;
  private byte[] dateLine;

  /** An answer of the route's (one of a few response objects): its headers and body rendered once. */
  private byte[] rendered(HttpResponse r) {
    if (r != lastResponse) {
      lastRest = renderRest(r);
      lastResponse = r;
    }
    return concat(statusLine(r), dateLine(), lastRest);
  }

  /** A refusal, in the API port's error shape ({@link Json#response}); rare, so rendered each time. */
  private byte[] error(StatusCode status, int grpcCode, String message) {
    HttpResponse r = Json.response(status, Json.ErrorBody.of(grpcCode, message));
    return concat(statusLine(r), dateLine(), renderRest(r));
  }

  private static byte[] statusLine(HttpResponse r) {
    return ("HTTP/1.1 " + r.status().intValue() + " " + r.status().reason() + "\r\n")
        .getBytes(StandardCharsets.ISO_8859_1);
  }

  private byte[] dateLine() {
    long second = System.currentTimeMillis() / 1000;
    if (second != dateSecond) {
      dateSecond = second;
      dateLine = ("Date: " + HTTP_DATE.format(ZonedDateTime.now(ZoneOffset.UTC)) + "\r\n")
          .getBytes(StandardCharsets.ISO_8859_1);
    }
    return dateLine;
  }

  /** Headers after the Date line, then the body; a strict entity (all the leader check's answers are). */
  private static byte[] renderRest(HttpResponse r) {
    byte[] body = ((org.apache.pekko.http.javadsl.model.HttpEntity.Strict) r.entity()).getData().toArray();
    StringBuilder h = new StringBuilder();
    for (HttpHeader header : r.getHeaders()) {
      h.append(header.name()).append(": ").append(header.value()).append("\r\n");
    }
    h.append("Content-Type: ").append(r.entity().getContentType()).append("\r\n");
    h.append("Content-Length: ").append(body.length).append("\r\n\r\n");
    return concat(h.toString().getBytes(StandardCharsets.ISO_8859_1), body);
  }

  private static byte[] concat(byte[]... parts) {
    int n = 0;
    for (byte[] p : parts) {
      n += p.length;
    }
    byte[] all = new byte[n];
    int at = 0;
    for (byte[] p : parts) {
      System.arraycopy(p, 0, all, at, p.length);
      at += p.length;
    }
    return all;
  }
}
