#pragma once
// What the app port's capabilities share (server/app/*.cpp): the error an app gets, and the
// bridge from a CAF callback to a kj promise. Internal to the server library; kj stays here.

#include "parley/actors/wire_errors.hpp"
#include "parley/runtime/errc.hpp"
#include "parley/schema/error.hpp"

#include <capnp/blob.h>
#include <kj/async.h>
#include <kj/exception.h>

#include <functional>
#include <memory>
#include <string>

namespace parley::server::app_rpc {

/// `err` as the RPC exception an app gets: "<error_code>: <message>", the code and message
/// being what a client would get (to_wire).
kj::Exception app_exception(const error& err);

/// A refusal before anything was asked of the entities.
inline kj::Promise<void> refuse(errc code, std::string message) {
  return app_exception(error(code, std::move(message)));
}

inline std::string bytes_of(capnp::Data::Reader d) {
  return std::string(reinterpret_cast<const char*>(d.begin()), d.size());
}

/// The reverse: `s` as a Data field (a view; `s` must outlive it).
inline capnp::Data::Reader data_of(const std::string& s) {
  return capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(s.data()), s.size());
}

/// A kj promise for an answer that a CAF thread gives: `callback` (for actors::app_calls)
/// fulfils it from any thread, and the promise resolves on the kj thread.
template <class T>
struct cross_thread_answer {
  kj::Promise<T> promise;
  std::function<void(result<T>)> callback;
};

template <class T>
cross_thread_answer<T> answer_from_caf() {
  auto pair = kj::newPromiseAndCrossThreadFulfiller<T>();
  auto fulfiller =
      std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<T>>>(kj::mv(pair.fulfiller));
  return {kj::mv(pair.promise), [fulfiller](result<T> r) {
            if (r)
              (*fulfiller)->fulfill(std::move(*r));
            else
              (*fulfiller)->reject(app_exception(r.error()));
          }};
}

}  // namespace parley::server::app_rpc
