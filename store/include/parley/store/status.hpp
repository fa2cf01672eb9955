#pragma once
// The storage layer's errors (category "store"). RocksDB's Status is converted at the store's
// edge and never leaves store/; callers get a parley::error (schema/error.hpp).

#include "parley/schema/error.hpp"

#include <cstdint>

namespace parley::store {

/// Why a storage operation failed.
enum class errc : std::uint8_t {
  not_found = 1,     ///< The key or data dir does not exist (never retriable by itself).
  invalid_argument,  ///< The caller passed something the store cannot accept.
  incompatible,      ///< The data dir was made by another format or shard count.
  io_error,          ///< The disk failed or is full; retriable once the cause is fixed.
  corruption,        ///< Data on disk is damaged; needs an operator.
  busy,              ///< Transient contention (e.g. lock held); retriable.
  shutting_down,     ///< The store is closing; retriable on another owner.
};

const error_category& category_of(errc);

}  // namespace parley::store
