package dev.pmmha.http.probe;

import dev.pmmha.http.api.Observability;
import dev.pmmha.http.routes.HaRoutes;
import dev.pmmha.http.routes.Json;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
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
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.FastThreadLocalThread;
import io.netty.util.concurrent.ImmediateEventExecutor;
import java.io.IOException;
import java.net.InetSocketAddress;
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
 * Here Netty's HTTP codec runs on one event-loop thread of its own, outside Pekko, and answers from the API
 * route's own answers ({@link HaRoutes#leaderCheckAnsweredNow()}: the same JSON, status, {@code X-PMM-HA-Epoch}
 * and request metrics; a stepping-down leader's 503 is held until the hand-over, as there).
 *
 * <p>Hostile input gets what the API port gives it: a request line or header block over 8 KiB (431), a body over
 * 64 KiB (413), a chunked body (400); each refusal closes the connection. At most 1,024 connections; an idle one
 * is closed after {@code idleMs}. Keep-alive, HTTP/1.0 and pipelined requests are answered in order.
 */
public final class ProbeServer implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(ProbeServer.class);

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
    }, NioIoHandler.newFactory());
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
        .channel(NioServerSocketChannel.class)
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
      ch.pipeline().addLast(
          new IdleStateHandler(0, 0, idleMs, TimeUnit.MILLISECONDS),
          new HttpServerCodec(new HttpDecoderConfig()
              .setMaxInitialLineLength(MAX_HEAD).setMaxHeaderSize(MAX_HEAD).setMaxChunkSize(MAX_BODY)),
          new Connection());
    }
  }

  /** A request read whole (its body dropped), or a refusal ({@code refusal} set), waiting for its answer. */
  private record Request(String method, String path, boolean keepAlive, boolean http10, FullHttpResponse refusal) {}

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

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, HttpObject msg) {
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
            req.protocolVersion().equals(HttpVersion.HTTP_1_0), null);
      }
      if (msg instanceof LastHttpContent && reading != null) {
        Request r = reading;
        reading = null;
        done = !r.keepAlive;
        enqueue(ctx, r);
      }
    }

    private void refuse(ChannelHandlerContext ctx, FullHttpResponse refusal) {
      done = true;
      reading = null;
      enqueue(ctx, new Request(null, null, false, false, refusal));
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
        closeAfter(ctx, r.refusal);
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

    private void answer(ChannelHandlerContext ctx, FullHttpResponse response, Request r) {
      if (!r.keepAlive) {
        closeAfter(ctx, response);
        return;
      }
      if (r.http10) {
        response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
      }
      ctx.write(response, ctx.voidPromise());
    }

    /**
     * A lingering close: closing with unread request bytes makes the kernel send a reset, which can destroy the
     * answer before the client read it; so send FIN, drop what still comes, close at the client's FIN.
     */
    private void closeAfter(ChannelHandlerContext ctx, FullHttpResponse response) {
      response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
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
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
      if (evt instanceof IdleStateEvent) {
        ctx.close();
      } else {
        ctx.fireUserEventTriggered(evt);
      }
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

  // --- responses: the route's few answer objects converted once each; the Date header changes each second ---

  /** RFC 9110's IMF-fixdate: {@code Sun, 06 Nov 1994 08:49:37 GMT}. */
  static final DateTimeFormatter HTTP_DATE = DateTimeFormatter.ofPattern("EEE, dd MMM yyyy HH:mm:ss 'GMT'", Locale.US);

  // touched on the event loop only
  private HttpResponse lastResponse;
  private Converted lastConverted;
  private long dateSecond = -1;
  private String date;

  private record Converted(HttpResponseStatus status, HttpHeaders headers, byte[] body) {}

  /** An answer of the route's (one of a few response objects), as a Netty response. */
  private FullHttpResponse rendered(HttpResponse r) {
    if (r != lastResponse) {
      lastConverted = convert(r);
      lastResponse = r;
    }
    return netty(lastConverted);
  }

  /** A refusal, in the API port's error shape ({@link Json#response}); rare, so converted each time. */
  private FullHttpResponse error(StatusCode status, int grpcCode, String message) {
    return netty(convert(Json.response(status, Json.ErrorBody.of(grpcCode, message))));
  }

  private FullHttpResponse netty(Converted c) {
    FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, c.status,
        Unpooled.wrappedBuffer(c.body), c.headers.copy(), EmptyHttpHeaders.INSTANCE);
    response.headers().set(HttpHeaderNames.DATE, date());
    return response;
  }

  private String date() {
    long second = System.currentTimeMillis() / 1000;
    if (second != dateSecond) {
      dateSecond = second;
      date = HTTP_DATE.format(ZonedDateTime.now(ZoneOffset.UTC));
    }
    return date;
  }

  /** Status, headers and body of a strict entity (all the leader check's answers are). */
  private static Converted convert(HttpResponse r) {
    byte[] body = ((HttpEntity.Strict) r.entity()).getData().toArray();
    HttpHeaders headers = new DefaultHttpHeaders();
    for (HttpHeader header : r.getHeaders()) {
      headers.add(header.name(), header.value());
    }
    headers.set(HttpHeaderNames.CONTENT_TYPE, r.entity().getContentType().toString());
    headers.setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
    return new Converted(HttpResponseStatus.valueOf(r.status().intValue(), r.status().reason()), headers, body);
  }
}
