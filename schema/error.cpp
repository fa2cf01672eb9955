#include "parley/schema/error.hpp"

namespace parley {

std::string error::describe() const {
  if (!category_) return "ok";
  std::string text = category_->name;
  text += '.';
  text += category_->code_name(code_);
  if (!message_.empty()) text += ": " + message_;
  return text;
}

error error::context(const std::string& what) const& {
  return error(*this).context(what);
}

error error::context(const std::string& what) && {
  if (category_) message_ = message_.empty() ? what : what + ": " + message_;
  return std::move(*this);
}

}  // namespace parley
