#include "ws_engine.hpp"

#include <websocketpp/config/core.hpp>
#include <websocketpp/server.hpp>

#include <algorithm>

namespace parley::server {

namespace {

/// websocketpp's core configuration, silent (the gateway logs what matters) and with bounds of
/// ours: an upgrade request has no body, and messages are bounded per connection (the frame
/// limit) before any is buffered.
struct ws_config : websocketpp::config::core {
  using type = ws_config;
  static const websocketpp::log::level elog_level = websocketpp::log::elevel::none;
  static const websocketpp::log::level alog_level = websocketpp::log::alevel::none;
  static const std::size_t connection_read_buffer_size = 4096;
  static const std::size_t max_http_body_size = 0;
  static const bool enable_extensions = false;
};

using ws_server = websocketpp::server<ws_config>;
using ws_connection = ws_server::connection_ptr;

/// Output above which pings are no longer answered (see the header).
constexpr std::size_t max_output_for_pong = 64 * 1024;

}  // namespace

struct ws_engine::impl {
  impl(const ws_settings& s, const schema::frame_limits& l) : settings(s), limits(l) {
    endpoint.set_user_agent("Parley");
    con = endpoint.get_connection();
    con->set_write_handler([this](websocketpp::connection_hdl, const char* data, std::size_t n) {
      append_output(data, n);
      return websocketpp::lib::error_code();
    });
    con->set_vector_write_handler([this](websocketpp::connection_hdl,
                                         const std::vector<websocketpp::transport::buffer>& bufs) {
      for (const auto& b : bufs) append_output(b.buf, b.len);
      return websocketpp::lib::error_code();
    });
    con->set_validate_handler([this](websocketpp::connection_hdl) { return origin_allowed(); });
    con->set_ping_handler([this](websocketpp::connection_hdl, const std::string&) {
      return output.size() - head < max_output_for_pong;
    });
    con->set_message_handler(
        [this](websocketpp::connection_hdl, ws_server::message_ptr msg) { on_message(*msg); });
    con->set_close_handler([this](websocketpp::connection_hdl) { on_closed(); });
    con->set_fail_handler([this](websocketpp::connection_hdl) { on_closed(); });
    con->set_max_message_size(limits.max_frame_bytes);
    con->start();
  }

  /// The validate handler: false refuses the upgrade with 403 Forbidden.
  bool origin_allowed() {
    const std::string& origin = con->get_request_header("Origin");
    if (origin.empty()) return true;
    const auto& allowed = settings.allowed_origins;
    if (std::any_of(allowed.begin(), allowed.end(),
                    [&](const std::string& a) { return a == "*" || a == origin; })) {
      return true;
    }
    con->set_status(websocketpp::http::status_code::forbidden);
    return false;
  }

  void on_message(ws_config::message_type& msg) {
    if (st != status::ok || into == nullptr) return;
    const std::string& payload = msg.get_payload();
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(payload.data());
    if (msg.get_opcode() != websocketpp::frame::opcode::binary) {
      st = status::bad_message;
      return;
    }
    const auto probe = schema::probe_frame(bytes, payload.size(), limits);
    if (probe.status == schema::frame_status::too_large) {
      st = status::too_large;
    } else if (probe.status != schema::frame_status::complete ||
               probe.total_bytes != payload.size()) {
      st = status::bad_message;
    } else {
      into->append(bytes, payload.size());
    }
  }

  /// The session closed or failed; a message refused for its size reads as a too-large frame.
  void on_closed() {
    if (st != status::ok) return;
    st = con->get_local_close_code() == websocketpp::close::status::message_too_big
             ? status::too_large
             : status::ended;
  }

  void append_output(const char* data, std::size_t n) {
    if (head > 0 && head == output.size()) {
      output.clear();
      head = 0;
    }
    output.insert(output.end(), reinterpret_cast<const std::uint8_t*>(data),
                  reinterpret_cast<const std::uint8_t*>(data) + n);
  }

  const ws_settings& settings;
  schema::frame_limits limits;
  ws_server endpoint;  // before con: a connection refers to its endpoint's random generator
  ws_connection con;
  std::vector<std::uint8_t> output;
  std::size_t head = 0;  // first unsent byte of output
  status st = status::ok;
  schema::frame_splitter* into = nullptr;  // set during feed()
};

ws_engine::ws_engine(const ws_settings& settings, const schema::frame_limits& limits)
    : impl_(std::make_unique<impl>(settings, limits)) {}

ws_engine::~ws_engine() {
  // A connection waiting for input holds its own read handler, which holds the connection: a
  // cycle that only a finished read breaks (found by fuzz/ws_fuzzer: every connection not
  // closed by a handshake leaked ~7 KB). Failing the pending read ends the connection; the
  // handlers it calls then still find the impl alive.
  auto& con = *impl_->con;
  con.fatal_error();
  con.set_write_handler(nullptr);
  con.set_vector_write_handler(nullptr);
}

ws_engine::status ws_engine::feed(const std::uint8_t* data, std::size_t n,
                                  schema::frame_splitter& into) {
  auto& i = *impl_;
  if (i.st != status::ok) return i.st;
  i.into = &into;
  const std::size_t taken = i.con->read_all(reinterpret_cast<const char*>(data), n);
  i.into = nullptr;
  // Input the engine no longer takes means the session ended without telling us.
  if (i.st == status::ok && taken < n) i.st = status::ended;
  return i.st;
}

void ws_engine::set_limits(const schema::frame_limits& limits) {
  impl_->limits = limits;
  impl_->con->set_max_message_size(limits.max_frame_bytes);
}

bool ws_engine::open() const {
  return impl_->con->get_state() == websocketpp::session::state::open;
}

bool ws_engine::write(const std::uint8_t* data, std::size_t n) {
  if (!open()) return false;
  return !impl_->con->send(data, n, websocketpp::frame::opcode::binary);
}

std::size_t ws_engine::output_size() const {
  return impl_->output.size() - impl_->head;
}

const std::uint8_t* ws_engine::output_data() const {
  return impl_->output.data() + impl_->head;
}

void ws_engine::consume_output(std::size_t n) {
  auto& i = *impl_;
  i.head += std::min(n, i.output.size() - i.head);
  if (i.head == i.output.size()) {
    i.output.clear();
    i.head = 0;
    if (i.output.capacity() > 64 * 1024) i.output.shrink_to_fit();  // after a large frame
  }
}

void ws_engine::close() {
  if (!open()) return;
  websocketpp::lib::error_code ignored;  // the state was checked; nothing to do if it fails
  impl_->con->close(websocketpp::close::status::normal, "", ignored);
}

}  // namespace parley::server
