// XMPP driver: the minimum of RFC 6120/6121 that ejabberd needs for a chat benchmark —
// stream open, SASL PLAIN, resource bind, presence, <message/> — plus in-band registration
// (XEP-0077) for setup and MUC (XEP-0045) for groups. No TLS (loopback benchmark only).
// Parsing is by substring, which is enough for a server we configure ourselves.

#include "drivers.hpp"

#include <deque>

namespace parley::bench {

namespace {

using asio::ip::tcp;

std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v =
        (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    const unsigned v = (unsigned char)in[i] << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

class xmpp_conn final : public chat_conn, public std::enable_shared_from_this<xmpp_conn> {
 public:
  enum class mode { login, reg };
  enum class state { stream1, auth, stream2, bind, ready, reg_features, reg_wait, muc_wait };

  xmpp_conn(asio::io_context& io, std::string domain) : socket_(io), domain_(std::move(domain)) {}

  void open(const endpoint_spec& ep, const std::string& user, const std::string& password,
            done_fn done) override {
    start(ep, user, password, mode::login, std::move(done));
  }

  void start(const endpoint_spec& ep, const std::string& user, const std::string& password, mode m,
             done_fn done) {
    user_ = user;
    password_ = password;
    done_ = std::move(done);
    state_ = m == mode::login ? state::stream1 : state::reg_features;
    std::error_code ec;
    ec = open_socket(socket_, ep);
    if (ec) return finish(false, "socket: " + ec.message());
    socket_.async_connect(tcp::endpoint(asio::ip::make_address(ep.host), ep.port),
                          [self = shared_from_this()](std::error_code ec) {
                            if (ec) return self->finish(false, "connect: " + ec.message());
                            std::error_code ignored;
                            self->socket_.set_option(tcp::no_delay(true), ignored);
                            self->open_stream();
                            self->read();
                          });
  }

  void send_direct(const std::string& peer, const std::string& body, ack_fn acked) override {
    write("<message to='" + peer + "@" + domain_ + "' type='chat'><body>" + body +
          "</body></message>");
    acked(true);
  }

  void send_group(const std::string& group, const std::string& body, ack_fn acked) override {
    write("<message to='" + group + "@conference." + domain_ + "' type='groupchat'><body>" + body +
          "</body></message>");
    acked(true);
  }

  void join_group(const std::string& group, bool create, done_fn done) override {
    done_ = std::move(done);
    creating_ = create;
    room_ = group + "@conference." + domain_;
    state_ = state::muc_wait;
    write("<presence to='" + room_ + "/" + user_ +
          "'><x xmlns='http://jabber.org/protocol/muc'>"
          "<history maxstanzas='0'/></x></presence>");
  }

  void close() override {
    std::error_code ignored;
    socket_.close(ignored);
  }

 private:
  void open_stream() {
    write("<?xml version='1.0'?><stream:stream to='" + domain_ +
          "' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
          "version='1.0'>");
  }

  void finish(bool ok, const std::string& error) {
    if (done_) {
      auto d = std::move(done_);
      done_ = nullptr;
      d(ok, error);
    }
  }

  void write(std::string data) {
    out_.push_back(std::move(data));
    if (out_.size() == 1) flush();
  }

  void flush() {
    asio::async_write(socket_, asio::buffer(out_.front()),
                      [self = shared_from_this()](std::error_code ec, std::size_t) {
                        if (ec) return self->finish(false, "write: " + ec.message());
                        self->out_.pop_front();
                        if (!self->out_.empty()) self->flush();
                      });
  }

  void read() {
    socket_.async_read_some(
        asio::buffer(buf_), [self = shared_from_this()](std::error_code ec, std::size_t n) {
          if (ec)
            return self->finish(false, "connection closed in state " +
                                           std::to_string(static_cast<int>(self->state_)));
          self->in_.append(self->buf_.data(), n);
          self->advance();
          self->read();
        });
  }

  bool take_until(const std::string& marker) {
    const auto at = in_.find(marker);
    if (at == std::string::npos) return false;
    in_.erase(0, at + marker.size());
    return true;
  }

  void advance() {
    for (;;) {
      switch (state_) {
        case state::stream1:
          if (!take_until("</stream:features>")) return;
          write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
                base64(std::string(1, '\0') + user_ + std::string(1, '\0') + password_) +
                "</auth>");
          state_ = state::auth;
          break;
        case state::auth:
          if (in_.find("<failure") != std::string::npos) return finish(false, "SASL failure");
          if (!take_until("<success")) return;
          open_stream();
          state_ = state::stream2;
          break;
        case state::stream2:
          if (!take_until("</stream:features>")) return;
          write(
              "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
              "<resource>load</resource></bind></iq>");
          state_ = state::bind;
          break;
        case state::bind:
          if (!take_until("</iq>")) return;
          write("<presence/>");
          state_ = state::ready;
          finish(true, "");
          break;
        case state::reg_features:
          if (!take_until("</stream:features>")) return;
          write("<iq type='set' id='reg1'><query xmlns='jabber:iq:register'><username>" + user_ +
                "</username><password>" + password_ + "</password></query></iq>");
          state_ = state::reg_wait;
          break;
        case state::reg_wait: {
          const auto at = in_.find("id='reg1'");
          if (at == std::string::npos) return;
          const bool ok = in_.find("type='result'") != std::string::npos ||
                          in_.find("conflict") != std::string::npos;  // registered before
          if (!ok && in_.find("</iq>") == std::string::npos) return;
          finish(ok, ok ? "" : "registration refused: " + in_.substr(0, 300));
          close();
          return;
        }
        case state::muc_wait:
          // Our own presence in the room carries status code 110.
          if (in_.find("code='110'") == std::string::npos) return;
          in_.clear();
          state_ = state::ready;
          if (creating_) {
            // Accept the default configuration: an "instant room" (XEP-0045 10.1.2).
            write("<iq type='set' to='" + room_ +
                  "' id='cfg1'><query "
                  "xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
                  "type='submit'/></query></iq>");
          }
          finish(true, "");
          break;
        case state::ready:
          return deliver();
      }
    }
  }

  void deliver() {
    for (;;) {
      const auto end = in_.find("</message>");
      if (end == std::string::npos) break;
      const auto b = in_.find("<body>");
      if (b != std::string::npos && b < end && on_message_) {
        const auto e = in_.find("</body>", b);
        if (e != std::string::npos && e < end) on_message_(in_.substr(b + 6, e - b - 6));
      }
      in_.erase(0, end + 10);
    }
    // Drop anything before a partial <message; presence and iq stanzas are not counted.
    const auto open = in_.find("<message");
    if (open == std::string::npos) {
      const auto last = in_.rfind('>');
      if (last != std::string::npos) in_.erase(0, last + 1);
    } else if (open > 0) {
      in_.erase(0, open);
    }
  }

  tcp::socket socket_;
  std::string domain_;
  std::string user_, password_, room_;
  done_fn done_;
  state state_ = state::stream1;
  bool creating_ = false;
  std::array<char, 8192> buf_{};
  std::string in_;
  std::deque<std::string> out_;
};

}  // namespace

std::shared_ptr<chat_conn> make_xmpp_conn(asio::io_context& io, const std::string& domain) {
  return std::make_shared<xmpp_conn>(io, domain);
}

void xmpp_register(asio::io_context& io, const endpoint_spec& ep, const std::string& domain,
                   const std::string& user, const std::string& password, chat_conn::done_fn done) {
  auto c = std::make_shared<xmpp_conn>(io, domain);
  c->start(ep, user, password, xmpp_conn::mode::reg, std::move(done));
}

}  // namespace parley::bench
