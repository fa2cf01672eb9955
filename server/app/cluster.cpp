// Cluster: the answering node's figures and its view of the shard map.

#include "capabilities.hpp"

#include "../app_port.hpp"

#include <map>

namespace parley::server::app_rpc {

namespace {

class cluster_impl final : public app::Cluster::Server {
 public:
  explicit cluster_impl(const std::function<node_view()>& view) : view_(view) {}

  kj::Promise<void> status(StatusContext context) override {
    const node_view v = view_();
    auto st = context.getResults().initStatus();
    st.setNode(v.node);
    st.setMapEpoch(v.stats.map_epoch);
    st.setShards(static_cast<std::uint32_t>(v.owners.size()));
    std::map<std::string, std::uint32_t> counts;
    for (const auto& owner : v.owners) ++counts[owner];
    auto owners = st.initOwners(static_cast<unsigned>(counts.size()));
    unsigned i = 0;
    for (const auto& [node, shards] : counts) {
      owners[i].setNode(node);
      owners[i++].setShards(shards);
    }
    st.setConnections(v.stats.connections);
    st.setLogins(v.stats.logins);
    st.setMessagesSent(v.stats.messages_sent);
    st.setPushes(v.stats.pushes);
    st.setActiveEntities(v.stats.active_entities);
    st.setServing(v.stats.serving);
    return kj::READY_NOW;
  }

 private:
  const std::function<node_view()>& view_;
};

}  // namespace

kj::Own<app::Cluster::Server> make_cluster(const std::function<node_view()>& view) {
  return kj::heap<cluster_impl>(view);
}

}  // namespace parley::server::app_rpc
