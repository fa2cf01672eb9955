#include "parley/runtime/random_id.hpp"

#include "parley/runtime/errc.hpp"

#include <openssl/rand.h>

#include <vector>

namespace parley::runtime {

result<std::string> random_id(const std::string& prefix, std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1)
    return {errc::internal, "no randomness for a new id"};
  static const char digits[] = "0123456789abcdef";
  std::string id = prefix;
  for (unsigned char b : raw) {
    id.push_back(digits[b >> 4]);
    id.push_back(digits[b & 0xf]);
  }
  return id;
}

}  // namespace parley::runtime
