// libFuzzer target: the client edge's input path with production limits. Bytes arrive in
// chunks whose sizes the input chooses; every complete frame is decoded as a ClientFrame with
// the node's ReaderOptions and walked the way the connection reads it. Must never crash, hang
// or read out of bounds (built with ASan + UBSan by scripts/fuzz.sh).
#include "parley/schema/framing.hpp"

#include "client.capnp.h"

#include <kj/exception.h>

#include <cstddef>
#include <cstdint>

namespace {

void walk(parley::wire::ClientFrame::Reader f) {
  (void)f.getRequestId();
  switch (f.which()) {
    case parley::wire::ClientFrame::LOGIN:
      (void)f.getLogin().getToken().size();
      (void)f.getLogin().getDeviceId().size();
      break;
    case parley::wire::ClientFrame::SEND: {
      auto s = f.getSend();
      if (s.getTarget().isUser()) (void)s.getTarget().getUser().size();
      if (s.getTarget().isGroup()) (void)s.getTarget().getGroup().size();
      (void)s.getBody().size();
      for (auto m : s.getMentions()) (void)m.size();
      break;
    }
    case parley::wire::ClientFrame::HISTORY:
      (void)f.getHistory().getBefore().which();
      (void)f.getHistory().getConversation().size();
      break;
    case parley::wire::ClientFrame::CREATE_GROUP:
      (void)f.getCreateGroup().getName().size();
      (void)f.getCreateGroup().getJoinPolicy();
      break;
    default:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  parley::schema::frame_limits limits;  // production defaults: 1 MiB, 16 segments
  parley::schema::frame_splitter splitter(limits, 256);
  const auto options = limits.reader_options();
  std::size_t at = 0;
  while (at < size) {
    // The first byte of each step says how many of the following bytes arrive at once.
    const std::size_t chunk = std::min<std::size_t>(1 + data[at], size - at);
    splitter.append(data + at, chunk);
    at += chunk;
    while (auto frame = splitter.next()) {
      try {
        auto reader = parley::schema::read_frame(*frame, options);
        walk(reader.getRoot<parley::wire::ClientFrame>());
      } catch (const kj::Exception&) {
        // A malformed frame is an error reply in the node, not a crash.
      }
    }
    if (splitter.state() != parley::schema::frame_status::complete) break;
    splitter.release_if_drained();
  }
  return 0;
}
