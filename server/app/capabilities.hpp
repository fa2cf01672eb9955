#pragma once
// The capabilities an authenticated app gets from its Engine (schema/app.capnp), one file
// each under server/app/. Each validates a call with the client edge's rules on the kj thread,
// then asks the entities through actors::app_calls (never the actors' own types).

#include "app.capnp.h"

#include <kj/memory.h>

#include <functional>

namespace parley::actors {
struct services;
}
namespace parley::server {
struct node_view;
}

namespace parley::server::app_rpc {

kj::Own<app::Tokens::Server> make_tokens(actors::services& svc);
kj::Own<app::Users::Server> make_users(actors::services& svc);
kj::Own<app::Groups::Server> make_groups(actors::services& svc);
kj::Own<app::Messages::Server> make_messages(actors::services& svc);
kj::Own<app::Inspection::Server> make_inspection(actors::services& svc);
kj::Own<app::Events::Server> make_events(actors::services& svc);
/// `view` answers for the node; it outlives every capability.
kj::Own<app::Cluster::Server> make_cluster(const std::function<node_view()>& view);

}  // namespace parley::server::app_rpc
