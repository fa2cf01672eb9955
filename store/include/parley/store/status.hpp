#pragma once
// Errors of the storage layer as values. RocksDB's Status is converted at the store's edge and
// never leaves store/.

#include <string>
#include <utility>
#include <variant>

namespace parley::store {

/// Why a storage operation failed.
enum class errc {
  ok = 0,
  not_found,         ///< The key or data dir does not exist (never retriable by itself).
  invalid_argument,  ///< The caller passed something the store cannot accept.
  incompatible,      ///< The data dir was made by another format or shard count.
  io_error,          ///< The disk failed or is full; retriable once the cause is fixed.
  corruption,        ///< Data on disk is damaged; needs an operator.
  busy,              ///< Transient contention (e.g. lock held); retriable.
  shutting_down,     ///< The store is closing; retriable on another owner.
};

/// Outcome of a storage operation: ok, or a code with a human-readable message.
class [[nodiscard]] status {
 public:
  status() = default;
  status(errc code, std::string message) : code_(code), message_(std::move(message)) {}

  static status ok_status() { return {}; }

  bool ok() const { return code_ == errc::ok; }
  errc code() const { return code_; }
  const std::string& message() const { return message_; }
  /// Whether sending the same operation again later can succeed.
  bool retriable() const {
    return code_ == errc::io_error || code_ == errc::busy || code_ == errc::shutting_down;
  }

 private:
  errc code_ = errc::ok;
  std::string message_;
};

/// Drops a status on purpose. `reason` says why its failure does not matter there; every such
/// place is found by searching for `ignore_failure`.
inline void ignore_failure(const status& /*outcome*/, const char* /*reason*/) {}

/// A value or the status explaining why there is none.
template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::move(value)) {}
  result(status error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  /// The error; only valid when !ok().
  const status& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, status> v_;
};

}  // namespace parley::store
