#pragma once
// TLS on the client port: an OpenSSL engine that does no I/O of its own.
//
// The node's sockets are non-blocking and readiness-driven (wait until readable, read what is
// there into a per-thread buffer; gather queued frames into one write), and the client library
// reads on one thread while callers write on others. Neither fits a stream wrapper such as
// asio::ssl::stream, which owns the socket calls and allows one operation at a time. This
// engine works on memory buffers instead: the owner feeds it the ciphertext it read, takes the
// plaintext out, hands it plaintext and writes out the ciphertext it produced, with whatever
// I/O model and locking it already has. It lives beside the framing code because both edges
// (node and client library) share it and neither may pull in the other's dependencies.
//
// One engine per connection; not thread-safe (its owner serialises calls).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include "parley/schema/error.hpp"

namespace parley::schema {

/// Why a TLS context could not be made (category "tls"; none is retriable: a file must change).
enum class tls_errc : std::uint8_t {
  no_context = 1,   ///< OpenSSL could not create a context.
  bad_certificate,  ///< The certificate file is missing or not a PEM chain.
  bad_key,          ///< The key file is missing or not a PEM key.
  key_mismatch,     ///< The key does not belong to the certificate.
  bad_trust,        ///< The CA file is missing or holds no usable certificate.
};
const error_category& category_of(tls_errc);

/// Certificates and settings shared by the connections of one side. Immutable once made.
class tls_context {
 public:
  /// A server presenting `cert_file` (PEM chain, leaf first) and `key_file` (PEM). TLS 1.2+.
  static result<tls_context> server(const std::string& cert_file, const std::string& key_file);

  /// A client verifying the server's chain against `ca_file` (PEM; empty: the system's trusted
  /// roots) and, by default, that the certificate names the host it connects to.
  static result<tls_context> client(const std::string& ca_file);

  /// One side of a connection between two nodes of a cluster (mutual TLS): it presents
  /// `cert_file`/`key_file` and requires the other side's certificate to chain to `ca_file`.
  /// No name is checked: a certificate of the cluster CA is what makes a peer a node.
  static result<tls_context> mutual(bool server, const std::string& ca_file,
                                    const std::string& cert_file, const std::string& key_file);

  bool is_server() const;

 private:
  struct impl;
  explicit tls_context(std::shared_ptr<impl> p);
  std::shared_ptr<impl> impl_;
  friend class tls_engine;
};

/// The TLS state of one connection.
class tls_engine {
 public:
  /// A server-side engine, or a client-side one checking that the certificate names `host`
  /// (an IP address or a DNS name; empty: chain only). A client starts with handshake(),
  /// which puts its first flight in the output.
  explicit tls_engine(const tls_context& ctx, const std::string& host = "");
  ~tls_engine();
  tls_engine(tls_engine&&) noexcept;
  tls_engine& operator=(tls_engine&&) noexcept;

  /// Ciphertext received from the peer.
  void feed(const void* data, std::size_t n);

  enum class status : std::uint8_t {
    ok,          ///< n plaintext bytes (n > 0)
    need_input,  ///< nothing more until more ciphertext is fed
    closed,      ///< the peer ended the session cleanly
    failed,      ///< handshake or record failure; the connection must close
  };
  struct read_result {
    status st;
    std::size_t n;
  };
  /// Decrypts into `out`. Call until need_input after each feed(): what is fed is then all
  /// read (a partial record waits for its remaining bytes). Progress of the handshake happens
  /// here too; afterwards output_size() may be non-zero even if nothing was written.
  read_result read(void* out, std::size_t capacity);

  /// Drives the handshake only (a client waiting for it before its first write): ok once it
  /// is done, need_input while it needs more of the peer's bytes, failed if it cannot finish.
  status handshake();

  /// Why the engine failed, for the client's user or the operator's log: the certificate
  /// check's verdict, or OpenSSL's reason for the first error. Never sent to a peer.
  std::string failure() const;

  /// Encrypts up to `n` plaintext bytes (in records of at most 16 KiB) and returns how many
  /// it took: 0 before the handshake is done or after a failure.
  std::size_t write(const void* data, std::size_t n);

  /// Ciphertext waiting to be sent, in order: look at it, send some, consume what was sent.
  std::size_t output_size() const;
  const std::uint8_t* output_data() const;
  void consume_output(std::size_t n);

  bool handshake_done() const;
  bool failed() const;

  /// Queues a close_notify alert (send it with the rest of the output).
  void close();

 private:
  void collect_output();
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace parley::schema
