#pragma once
// One error model for every module.
//
// A failure is a `parley::error`: the category of the module it comes from, a code from that
// module's own enum, and a message for logs and operators. A function that can fail returns
// `parley::result<T>` (a value, or the error why there is none) or, with nothing to return, a
// `parley::error` that is empty on success:
//
//   if (auto err = db.write(batch, durability::sync)) return err;
//   auto page = log.read_after(seq, 100);
//   if (!page) return page.error();
//
// Both types are [[nodiscard]]. Dropping an outcome on purpose is `parley::ignore(err, "why")`,
// so every such place is found by searching for `ignore(`.
//
// Each module owns an enum and a category, declared next to its code; a code enum `E` joins the
// model by an overload `const error_category& category_of(E)` that argument-dependent lookup
// finds:
//
//   tls      schema/tls.hpp           certificates and keys
//   store    store/status.hpp         storage (RocksDB's Status is converted at the store's edge)
//   auth     runtime/token.hpp        tokens and the token secret
//   cluster  runtime/cluster_errc.hpp etcd, the cluster port, certificates, shard moves
//   request  runtime/errc.hpp         why an entity refuses a client's request (the wire's codes)
//   client   client/client.hpp        the client library's connection
//
// Across an actor boundary CAF carries an error as a caf::error with the category's name as its
// atom (runtime/errc.hpp: to_caf / from_caf). At the client edge an error becomes the wire's
// ErrorCode (actors/connection: to_wire); only request errors keep their message there, every
// other category gets a generic one, so no storage, cluster or library text reaches a client.
//
// This header depends on the standard library only: the client library and the store use it
// without CAF.

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace parley {

/// A module's errors: its name and what each of its codes means. One constant object per module.
struct error_category {
  /// Short and stable ("store"); also the atom of a caf::error carrying it, so at most 10
  /// characters of [a-z_].
  const char* name;
  /// Stable name of a code ("io_error"); "unknown" for a value the enum does not have.
  const char* (*code_name)(std::uint8_t code);
  /// Whether doing the same again later can succeed.
  bool (*retriable)(std::uint8_t code);
};

/// A failure, or nothing (default-constructed: success). Cheap to move; copyable.
class [[nodiscard]] error {
 public:
  /// No error.
  error() = default;

  /// An error of the module that owns `Code`.
  template <class Code, class = decltype(category_of(std::declval<Code>()))>
  error(Code code, std::string message)
      : category_(&category_of(code)),
        code_(static_cast<std::uint8_t>(code)),
        message_(std::move(message)) {}

  /// An error rebuilt from its parts (runtime/errc.cpp, from a caf::error).
  error(const error_category& category, std::uint8_t code, std::string message)
      : category_(&category), code_(code), message_(std::move(message)) {}

  /// True when this is an error (as for std::error_code and caf::error: `if (auto err = f())`).
  explicit operator bool() const { return category_ != nullptr; }
  /// True when there is no error.
  bool ok() const { return category_ == nullptr; }

  /// The module's category; nullptr when there is no error.
  const error_category* category() const { return category_; }
  /// The code within the category.
  std::uint8_t code() const { return code_; }
  /// What happened, for logs and operators (never sent to a client unless the category is
  /// request).
  const std::string& message() const { return message_; }

  /// Whether this is exactly `code`.
  template <class Code, class = decltype(category_of(std::declval<Code>()))>
  bool is(Code code) const {
    return category_ == &category_of(code) && code_ == static_cast<std::uint8_t>(code);
  }
  /// Whether this error comes from `category`.
  bool in(const error_category& category) const { return category_ == &category; }

  /// Whether doing the same again later can succeed.
  bool retriable() const { return category_ && category_->retriable(code_); }

  /// "store.io_error: cannot write /data: disk full" (or "ok").
  std::string describe() const;

  /// The same error with "`what`: " before its message (the caller's context).
  error context(const std::string& what) const&;
  error context(const std::string& what) &&;

 private:
  const error_category* category_ = nullptr;
  std::uint8_t code_ = 0;
  std::string message_;
};

/// Drops an outcome on purpose. `reason` says why a failure does not matter there.
inline void ignore(const error& /*outcome*/, const char* /*reason*/) {}

/// A value, or the error why there is none.
template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::move(value)) {}
  /// Must be an error (a result never holds "no error and no value").
  result(parley::error failure) : v_(std::move(failure)) {}
  template <class Code, class = decltype(category_of(std::declval<Code>()))>
  result(Code code, std::string message) : v_(parley::error(code, std::move(message))) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  /// The error; only valid when !ok().
  const parley::error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, parley::error> v_;
};

/// Drops a result (its value and any error) on purpose; `reason` says why.
template <class T>
void ignore(const result<T>& /*outcome*/, const char* /*reason*/) {}

}  // namespace parley
