package dev.pmmha.http.probe;

import dev.pmmha.http.api.Observability;
import dev.pmmha.http.routes.HaRoutes;
import dev.pmmha.http.routes.ApiError;
import dev.pmmha.http.routes.Errors;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.concurrent.FastThreadLocalThread;
import io.netty.util.concurrent.ImmediateEventExecutor;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayDeque;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.pekko.http.javadsl.model.HttpEntity;
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
 * <p>Why it exists: on the API port a check queues behind API requests in Pekko's TCP actors and HTTP streams.
 * Here Netty's HTTP request decoder runs on one event-loop thread of its own, outside Pekko. The answers are the
 * API route's own ({@link HaRoutes#leaderCheckAnsweredNow()}: the same JSON, status, {@code X-PMM-HA-Epoch} and
 * request metrics; a stepping-down leader's 503 is held until the hand-over, as there), rendered to bytes once per
 * answer object rather than encoded per request, which is what keeps the port's throughput
 * (bench/results/health.md).
 *
 * <p>Hostile input gets what the API port gives it: a request line or header block over 8 KiB (431), a body over
 * 64 KiB (413), a chunked body (400); each refusal closes the connection. At most 1,024 connections; an idle one
 * is closed after {@code idleMs}. Keep-alive, HTTP/1.0 and pipelined requests are answered in order.
 */
public final class ProbeServer implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(ProbeServer.class);

  /** Linux's epoll when its native library loads, NIO otherwise (bench/results/health-2026-12-02-epoll.md vs -quiet.md). */
  static final boolean EPOLL = Epoll.isAvailable();

  public static final int MAX_HEAD = 8 * 1024;
  public static final int MAX_BODY = 64 * 1024;
  public static final int MAX_CONNECTIONS = 1024;
  /** How long a connection answered with a close waits for the client's FIN, at most. */
  private static final long LINGER_MS = 2_000;

  private final HaRoutes routes;
  private final Observability observability;
  private final long timeoutMs;
  private final long idleMs;
  private final EventLoopGroup loop;
  private final ChannelGroup channels;
  private Channel server;
  /** Open client connections; touched on the event loop only. */
  private int connections;

  private ProbeServer(HaRoutes routes, long timeoutMs, long idleMs) {
    this.routes = routes;
    this.observability = routes.observability();
    this.timeoutMs = timeoutMs;
    this.idleMs = idleMs;
    this.loop = new MultiThreadIoEventLoopGroup(1, r -> {
      Thread t = new FastThreadLocalThread(r, "pmm-ha-probe");
      t.setDaemon(true);
      return t;
    }, EPOLL ? EpollIoHandler.newFactory() : NioIoHandler.newFactory());
    this.channels = new DefaultChannelGroup("pmm-ha-probe", ImmediateEventExecutor.INSTANCE);
  }

  /**
   * Listens on {@code host:port} (0: any free port). {@code timeoutMs}: how long a stepping-down leader's 503 may
   * wait for the hand-over; {@code idleMs}: when an idle connection is closed.
   */
  public static ProbeServer start(String host, int port, HaRoutes routes, long timeoutMs, long idleMs)
      throws IOException {
    ProbeServer p = new ProbeServer(routes, timeoutMs, idleMs);
    var bound = new ServerBootstrap()
        .group(p.loop)
        .channel(EPOLL ? EpollServerSocketChannel.class : NioServerSocketChannel.class)
        .option(ChannelOption.SO_BACKLOG, 1024)
        .option(ChannelOption.SO_REUSEADDR, true)
        .childOption(ChannelOption.TCP_NODELAY, true)
        .childHandler(p.new Init())
        .bind(host, port)
        .awaitUninterruptibly();
    if (!bound.isSuccess()) {
      p.loop.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
      Throwable cause = bound.cause();
      throw cause instanceof IOException io ? io : new IOException(cause.getMessage(), cause);
    }
    p.server = bound.channel();
    p.channels.add(p.server);
    // one sweep for all connections instead of a timer per connection
    long every = Math.max(50, Math.min(1_000, idleMs / 4));
    p.loop.scheduleAtFixedRate(p::closeIdle, every, every, TimeUnit.MILLISECONDS);
    return p;
  }

  public InetSocketAddress localAddress() {
    return (InetSocketAddress) server.localAddress();
  }

  /** Stops listening and closes every connection; returns once the event loop has ended. */
  @Override
  public void close() {
    channels.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
    loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
  }

  private void closeIdle() {
    long now = System.nanoTime();
    for (Channel ch : channels) {
      Connection c = ch.pipeline().get(Connection.class);
      if (c != null && !c.done && now - c.lastRead > idleMs * 1_000_000L) {
        ch.close();
      }
    }
  }

  private final class Init extends ChannelInitializer<SocketChannel> {
    @Override
    protected void initChannel(SocketChannel ch) {
      if (connections >= MAX_CONNECTIONS) {
        ch.close();
        return;
      }
      connections++;
      ch.closeFuture().addListener(f -> connections--);
      channels.add(ch);
      // Netty parses the requests; the answers are written as bytes rendered once per answer (see below)
      ch.pipeline().addLast(
          new HttpRequestDecoder(new HttpDecoderConfig()
              .setMaxInitialLineLength(MAX_HEAD).setMaxHeaderSize(MAX_HEAD).setMaxChunkSize(MAX_BODY)),
          new Connection());
    }
  }

  /** A request read whole (its body dropped), or a refusal ({@code refusal} set), waiting for its answer. */
  private record Request(String method, String path, boolean keepAlive, boolean http10, boolean head,
      Rendered refusal) {}

  /**
   * One client connection. Requests are answered in order: while a stepping-down leader's answer is held, the
   * requests read after it wait in {@code queued} and nothing more is read.
   */
  private final class Connection extends SimpleChannelInboundHandler<HttpObject> {
    private Request reading;
    private final ArrayDeque<Request> queued = new ArrayDeque<>();
    private boolean waiting;
    /** A close is owed (a refusal, Connection: close): whatever comes after it is dropped. */
    private boolean done;
    /** When a request's bytes last came in (System.nanoTime). */
    private long lastRead = System.nanoTime();

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, HttpObject msg) {
      lastRead = System.nanoTime();
      if (done) {
        return;
      }
      if (msg.decoderResult().isFailure()) {
        Throwable cause = msg.decoderResult().cause();
        refuse(ctx, cause instanceof TooLongFrameException
            ? error(StatusCodes.REQUEST_HEADER_FIELDS_TOO_LARGE, 3, "request head over " + MAX_HEAD + " bytes")
            : error(StatusCodes.BAD_REQUEST, 3, "malformed request: " + cause.getMessage()));
        return;
      }
      if (msg instanceof HttpRequest req) {
        if (HttpUtil.isTransferEncodingChunked(req)) {
          refuse(ctx, error(StatusCodes.BAD_REQUEST, 3, "a leader check has no chunked body"));
          return;
        }
        if (HttpUtil.getContentLength(req, 0L) > MAX_BODY) {
          refuse(ctx, error(StatusCodes.PAYLOAD_TOO_LARGE, 3, "request body over " + MAX_BODY + " bytes"));
          return;
        }
        reading = new Request(req.method().name(), pathOf(req.uri()), HttpUtil.isKeepAlive(req),
            req.protocolVersion().equals(HttpVersion.HTTP_1_0), req.method().equals(HttpMethod.HEAD), null);
      }
      if (msg instanceof LastHttpContent && reading != null) {
        Request r = reading;
        reading = null;
        done = !r.keepAlive;
        enqueue(ctx, r);
      }
    }

    private void refuse(ChannelHandlerContext ctx, Rendered refusal) {
      done = true;
      reading = null;
      enqueue(ctx, new Request(null, null, false, false, false, refusal));
    }

    private void enqueue(ChannelHandlerContext ctx, Request r) {
      if (waiting) {
        queued.add(r);
      } else {
        serve(ctx, r);
      }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
      ctx.flush();
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
      // a client that sends requests but does not read its answers is not read from until it does
      ctx.channel().config().setAutoRead(ctx.channel().isWritable() && !waiting && !done);
      ctx.fireChannelWritabilityChanged();
    }

    private void serve(ChannelHandlerContext ctx, Request r) {
      if (r.refusal != null) {
        closeAfter(ctx, bytes(ctx, r.refusal, CLOSE, false));
        return;
      }
      long start = System.nanoTime();
      String path = r.path;
      if (!HaRoutes.isLeaderCheck(r.method, path)) {
        String allowed = String.join(", ", Stream.of("GET", "POST").filter(m -> HaRoutes.isLeaderCheck(m, path)).toList());
        answer(ctx, !allowed.isEmpty()
            ? error(StatusCodes.METHOD_NOT_ALLOWED, 12, "method not allowed; use " + allowed)
            : error(StatusCodes.NOT_FOUND, 5,
                "no such endpoint on the probe port: " + path + " (it serves the leader health checks)"), r);
        return;
      }
      HttpResponse now = routes.leaderCheckAnsweredNow();
      if (now != null) {
        observability.requestServed(path, now.status().intValue(), System.nanoTime() - start);
        answer(ctx, rendered(now), r);
        return;
      }
      // a stepping-down leader: its 503 waits for the hand-over, as on the API port
      waiting = true;
      ctx.channel().config().setAutoRead(false);
      routes.leaderCheckAnswerLater().toCompletableFuture()
          .completeOnTimeout(HaRoutes.NOT_LEADER, timeoutMs, TimeUnit.MILLISECONDS)
          .whenComplete((resp, e) -> ctx.executor().execute(() -> {
            if (!ctx.channel().isActive()) {
              return;
            }
            HttpResponse answer = resp != null ? resp : HaRoutes.NOT_LEADER;
            observability.requestServed(path, answer.status().intValue(), System.nanoTime() - start);
            waiting = false;
            answer(ctx, rendered(answer), r);
            while (!waiting && !queued.isEmpty()) {
              serve(ctx, queued.poll());
            }
            ctx.flush();
            if (!waiting && !done && ctx.channel().isWritable()) {
              ctx.channel().config().setAutoRead(true);
            }
          }));
    }

    private void answer(ChannelHandlerContext ctx, Rendered response, Request r) {
      if (!r.keepAlive) {
        closeAfter(ctx, bytes(ctx, response, CLOSE, r.head));
        return;
      }
      ctx.write(bytes(ctx, response, r.http10 ? KEEP_ALIVE : null, r.head), ctx.voidPromise());
    }

    /**
     * A lingering close: closing with unread request bytes makes the kernel send a reset, which can destroy the
     * answer before the client read it; so send FIN, drop what still comes, close at the client's FIN.
     */
    private void closeAfter(ChannelHandlerContext ctx, ByteBuf response) {
      ctx.writeAndFlush(response).addListener((ChannelFutureListener) f -> {
        if (!f.isSuccess() || !(f.channel() instanceof SocketChannel ch)) {
          f.channel().close();
          return;
        }
        ch.shutdownOutput();
        ch.config().setAutoRead(true);
        ch.eventLoop().schedule(() -> ch.close(), Math.min(idleMs, LINGER_MS), TimeUnit.MILLISECONDS);
      });
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      if (cause instanceof IOException) {
        log.debug("Probe connection closed: {}", cause.toString());
      } else {
        log.warn("Probe connection closed after an error", cause);
      }
      ctx.close();
    }
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

  // --- responses: rendered to bytes once per answer object (the route has a few); the Date line once a second ---

  /** RFC 9110's IMF-fixdate: {@code Sun, 06 Nov 1994 08:49:37 GMT}. */
  static final DateTimeFormatter HTTP_DATE = DateTimeFormatter.ofPattern("EEE, dd MMM yyyy HH:mm:ss 'GMT'", Locale.US);
  private static final byte[] CLOSE = "Connection: close\r\n".getBytes(StandardCharsets.ISO_8859_1);
  private static final byte[] KEEP_ALIVE = "Connection: keep-alive\r\n".getBytes(StandardCharsets.ISO_8859_1);

  // touched on the event loop only
  private HttpResponse lastResponse;
  private Rendered lastRendered;
  private long dateSecond = -1;
  private byte[] dateLine;

  /** An answer as bytes: its status line; the headers after the Date line, up to the empty line; the body. */
  private record Rendered(byte[] statusLine, byte[] headers, byte[] body) {}

  /** An answer of the route's (one of a few response objects), rendered once. */
  private Rendered rendered(HttpResponse r) {
    if (r != lastResponse) {
      lastRendered = render(r);
      lastResponse = r;
    }
    return lastRendered;
  }

  /** A refusal, rendered by the API port's error mapper ({@link Errors}); rare, so rendered each time. */
  private static Rendered error(StatusCode status, int grpcCode, String message) {
    return render(Errors.response(new ApiError(status, grpcCode, message, java.util.List.of())));
  }

  /** A strict entity's answer (all the leader check's answers are) in HTTP/1.1's wire form. */
  private static Rendered render(HttpResponse r) {
    byte[] body = ((HttpEntity.Strict) r.entity()).getData().toArray();
    StringBuilder h = new StringBuilder();
    for (HttpHeader header : r.getHeaders()) {
      h.append(header.name()).append(": ").append(header.value()).append("\r\n");
    }
    h.append("Content-Type: ").append(r.entity().getContentType()).append("\r\n");
    h.append("Content-Length: ").append(body.length).append("\r\n");
    String status = "HTTP/1.1 " + r.status().intValue() + " " + r.status().reason() + "\r\n";
    return new Rendered(status.getBytes(StandardCharsets.ISO_8859_1), h.toString().getBytes(StandardCharsets.ISO_8859_1),
        body);
  }

  /** The bytes of one answer; {@code connection} an extra Connection header line or null; no body for HEAD. */
  private ByteBuf bytes(ChannelHandlerContext ctx, Rendered r, byte[] connection, boolean head) {
    byte[] date = dateLine();
    int n = r.statusLine.length + date.length + (connection == null ? 0 : connection.length) + r.headers.length + 2
        + (head ? 0 : r.body.length);
    ByteBuf b = ctx.alloc().ioBuffer(n);
    b.writeBytes(r.statusLine).writeBytes(date);
    if (connection != null) {
      b.writeBytes(connection);
    }
    b.writeBytes(r.headers).writeByte('\r').writeByte('\n');
    if (!head) {
      b.writeBytes(r.body);
    }
    return b;
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
}
