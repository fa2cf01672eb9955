// libFuzzer target: the WebSocket layer of the node's WebSocket port (server/ws_engine.hpp)
// with production frame limits. The input is what a hostile browser or bot could send: an
// upgrade request and WebSocket frames, in chunks whose sizes the input chooses, with the
// node's answers taken out as a socket would. Must never crash, hang, read out of bounds or
// let its output grow without bound (built with ASan + UBSan by scripts/fuzz.sh).
#include "ws_engine.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const parley::server::ws_settings settings{{"http://app.example"}};
  parley::schema::frame_limits limits;
  limits.max_frame_bytes = 8 * 1024;  // the node's limit before login
  parley::server::ws_engine engine(settings, limits);
  parley::schema::frame_splitter frames(limits);
  std::size_t at = 0;
  while (at < size) {
    // The first byte of each chunk gives its length (1-256); the rest is the peer's bytes.
    const std::size_t n = std::min<std::size_t>(1 + data[at], size - at - 1);
    ++at;
    const auto st = engine.feed(data + at, n, frames);
    at += n;
    while (frames.next()) {
    }
    // Answer like the node: a frame back while open, the output taken as a socket would.
    if (engine.open()) {
      static const std::uint8_t empty_frame[16] = {0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
      engine.write(empty_frame, sizeof empty_frame);
    }
    if (engine.output_size() > 1u << 20) __builtin_trap();  // the output must stay bounded
    engine.consume_output(engine.output_size());
    if (st != parley::server::ws_engine::status::ok) break;
  }
  engine.close();
  return 0;
}
