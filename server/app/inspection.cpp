// Inspection: one entity, asked of the presence actor of its shard (on the owner node, which
// never activates it for this), and the entities active on this node, from its router.

#include "capabilities.hpp"
#include "support.hpp"

#include "parley/actors/app_calls.hpp"
#include "parley/runtime/entity_id.hpp"
#include "parley/runtime/router.hpp"
#include "parley/schema/ids.hpp"

#include <algorithm>

namespace parley::server::app_rpc {

namespace {

using schema::text;

/// Longest page of list().
constexpr std::uint32_t max_list_page = 1000;
constexpr std::uint32_t default_list_page = 100;

class inspection_impl final : public app::Inspection::Server {
 public:
  explicit inspection_impl(actors::services& svc) : svc_(svc) {}

  kj::Promise<void> inspect(InspectContext context) override {
    const std::string entity = text(context.getParams().getEntity());
    if (!runtime::parse_entity(entity)) {
      return refuse(errc::bad_request,
                    "invalid entity id (user/<u>, group/<g>, conv/dm/<a>/<b>, conv/group/<g>, "
                    "presence/<shard>)");
    }
    auto answer = answer_from_caf<actors::entity_report>();
    actors::inspect_entity(svc_, entity, std::move(answer.callback));
    return answer.promise.then([context](actors::entity_report r) mutable {
      auto out = context.getResults().initReport();
      out.setEntity(r.entity);
      out.setNode(r.node);
      out.setShard(r.shard);
      out.setActive(r.active);
      out.setMailbox(r.mailbox);
      out.setWritesInFlight(r.writes_in_flight);
      auto figures = out.initFigures(static_cast<unsigned>(r.figures.size()));
      for (unsigned i = 0; i < r.figures.size(); ++i) {
        figures[i].setName(r.figures[i].name);
        figures[i].setValue(r.figures[i].value);
      }
    });
  }

  kj::Promise<void> list(ListContext context) override {
    auto p = context.getParams();
    const std::string prefix = text(p.getPrefix());
    const std::string after = text(p.getAfter());
    if (prefix.size() > 1024 || after.size() > 1024) {
      return refuse(errc::bad_request, "prefix and after are at most 1024 bytes");
    }
    const std::uint32_t limit =
        p.getLimit() == 0 ? default_list_page : std::min(p.getLimit(), max_list_page);
    // One more than asked says whether another page follows.
    auto ids = svc_.router->active_ids(prefix, after, std::size_t{limit} + 1);
    const bool more = ids.size() > limit;
    if (more) ids.pop_back();
    auto r = context.getResults();
    r.setNode(svc_.router->self());
    auto list = r.initEntities(static_cast<unsigned>(ids.size()));
    for (unsigned i = 0; i < ids.size(); ++i) list.set(i, ids[i]);
    r.setMore(more);
    return kj::READY_NOW;
  }

 private:
  actors::services& svc_;
};

}  // namespace

kj::Own<app::Inspection::Server> make_inspection(actors::services& svc) {
  return kj::heap<inspection_impl>(svc);
}

}  // namespace parley::server::app_rpc
