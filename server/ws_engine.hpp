#pragma once
// WebSocket on the client port's socket loop: a server-side engine that does no I/O of its own.
//
// The WebSocket gateway is the TCP gateway with one more layer between the socket and the
// frame splitter (server/gateway.cpp): bytes read from the socket (decrypted first when the
// port speaks TLS) are fed to this engine, which runs the HTTP upgrade, unmasks and joins the
// WebSocket frames, and hands the payload of each binary message to the splitter; each frame
// the node sends becomes one binary message in the engine's output, which the session writes
// out like TLS ciphertext. So a WebSocket client gets exactly what a TCP client gets — the
// same Cap'n Proto frames, login, heartbeat, errors, limits and back-pressure — and the
// gateway's read loop, budgets and deadlines are not written twice.
//
// websocketpp 0.8.2 does the protocol work, in its transport-agnostic form (the iostream
// transport fed by hand, no Asio, no timers of its own: the gateway's sweeper keeps the login,
// heartbeat and close deadlines). Its heavy headers stay in ws_engine.cpp.
//
// Rules on top of RFC 6455:
// - one Cap'n Proto frame per binary message: a text message, or a message that is not
//   exactly one frame, is a malformed frame; a message above the frame size limit is refused
//   by the engine as it arrives (close code 1009), before it is buffered whole;
// - the Origin header, when a browser sends one, must be on the allow-list ("*" allows any);
//   a request without Origin (not a browser) is accepted: the token is the credential;
// - pings are answered while fewer than 64 KiB of output wait to be written (a client that
//   pings without reading gets no more pongs), so the output stays bounded.
//
// One engine per connection; not thread-safe (its owner, the socket's strand, serialises calls).

#include "parley/schema/framing.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace parley::server {

/// What every WebSocket connection of a gateway shares.
struct ws_settings {
  /// Origins a browser may open a connection from, as "scheme://host:port"; "*" allows any.
  std::vector<std::string> allowed_origins;
};

class ws_engine {
 public:
  /// `limits`: the frame limits in force (max_frame_bytes bounds each message).
  ws_engine(const ws_settings& settings, const schema::frame_limits& limits);
  ~ws_engine();
  ws_engine(const ws_engine&) = delete;
  ws_engine& operator=(const ws_engine&) = delete;

  enum class status : std::uint8_t {
    ok,           ///< Everything fed was taken.
    ended,        ///< The session is over (closed by the peer, refused handshake, protocol
                  ///< error): write the output, then close the socket.
    bad_message,  ///< A message that is not one binary Cap'n Proto frame.
    too_large,    ///< A message above the frame size limit.
  };

  /// Bytes from the peer. The payload of each complete binary message goes to `into`. After
  /// anything but ok, later input is ignored and the same status is returned.
  status feed(const std::uint8_t* data, std::size_t n, schema::frame_splitter& into);

  /// Changes the limits for messages not yet started (larger after a login).
  void set_limits(const schema::frame_limits& limits);

  /// Whether the handshake is done and the session open: write() works.
  bool open() const;

  /// Queues `n` bytes (one whole frame) as one binary message. False if the session is not
  /// open.
  bool write(const std::uint8_t* data, std::size_t n);

  /// Bytes waiting to be sent, in order: look at them, send some, consume what was sent.
  std::size_t output_size() const;
  const std::uint8_t* output_data() const;
  void consume_output(std::size_t n);

  /// Starts the closing handshake (a Close frame in the output) if the session is open.
  void close();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace parley::server
